"""Lower a torch model to a chain of float-IR records with ``torch.fx``.

Works for ``nn.Sequential`` and for ordinary ``forward()`` methods: the model
is symbolically traced (hwgen's own activations are kept as leaves), shapes
are propagated with an example input, and every node is handed to the
handler registered for its module type (:mod:`.handlers`) or to a small table
of functional equivalents below. Anything else is an error naming the node.
"""
from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from .. import nn as hnn
from ..errors import ConversionError
from .fir import Act, ActKind, AvgPool, Flatten
from .handlers import MODULE_HANDLERS, pair


class _Tracer(fx.Tracer):
    def is_leaf_module(self, module: nn.Module, qualname: str) -> bool:
        if isinstance(module, (hnn.QCFS, hnn.RNL, hnn.Normalize)):
            return True
        return super().is_leaf_module(module, qualname)


def _kwarg(node: fx.Node, index: int, name: str, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _clip(node: fx.Node, source: str, low, high):
    if low != 0 or high is None or high <= 0:
        raise ConversionError(f"{source}: only a clamp to [0, m] with m > 0 converts, got [{low}, {high}]")
    return [Act(ActKind.CLIP, source, lam=float(high))]


def _is_flatten(node: fx.Node) -> bool:
    shape_in = node.args[0].meta["tensor_meta"].shape
    shape_out = node.meta["tensor_meta"].shape
    return len(shape_out) == 2 and shape_out[0] == shape_in[0]


def _function(node: fx.Node, source: str):
    """Float IR for a ``call_function`` / ``call_method`` node."""
    target = node.target
    name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    if target in (F.relu, torch.relu) or name == "relu":
        return [Act(ActKind.RELU, source)]
    if target in (torch.flatten,) or name in ("flatten", "view", "reshape"):
        if not _is_flatten(node):
            raise ConversionError(f"{source}: only a flatten to [N, features] converts")
        return [Flatten(source)]
    if target in (torch.clamp, torch.clip) or name in ("clamp", "clip"):
        return _clip(node, source, _kwarg(node, 1, "min"), _kwarg(node, 2, "max"))
    if target is F.hardtanh:
        return _clip(node, source, _kwarg(node, 1, "min_val", -1.0), _kwarg(node, 2, "max_val", 1.0))
    if target is F.relu6:
        return [Act(ActKind.CLIP, source, lam=6.0)]
    if target is F.dropout or name in ("dropout", "contiguous"):
        return []
    if target is F.avg_pool2d:
        kernel = pair(_kwarg(node, 1, "kernel_size"))
        stride = _kwarg(node, 2, "stride") or kernel
        if _kwarg(node, 4, "ceil_mode", False) or not _kwarg(node, 5, "count_include_pad", True):
            raise ConversionError(f"{source}: avg_pool2d needs ceil_mode=False, count_include_pad=True")
        return [AvgPool(source, kernel, pair(stride), pair(_kwarg(node, 3, "padding", 0)))]
    if target is F.max_pool2d:
        raise ConversionError(f"{source}: max pooling does not convert; use avg_pool2d")
    raise ConversionError(f"{source}: unsupported operation {name!r}")


def _module(model: nn.Module, node: fx.Node):
    module = model.get_submodule(node.target)
    handler = MODULE_HANDLERS.get(type(module))
    if handler is None:
        raise ConversionError(f"module '{node.target}' ({type(module).__name__}): unsupported layer type; "
                              "supported: " + ", ".join(sorted({t.__name__ for t in MODULE_HANDLERS})))
    records = handler(module, node.target)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        size = tuple(node.args[0].meta["tensor_meta"].shape[2:])
        records = [AvgPool(node.target, size, size)]
    return records


def _is_size(node) -> bool:
    return isinstance(node, fx.Node) and (node.target in ("size", "dim") or node.target is getattr
                                          or node.target is operator.getitem)


def lower(model: nn.Module, example: torch.Tensor) -> list:
    """Trace ``model`` and return its chain of float-IR records.

    Parameters
    ----------
    model : nn.Module
        In eval mode; a chain (each op consumes the previous op's output).
    example : Tensor
        One batch of inputs, used for shape propagation.
    """
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # fx raises many types for untraceable code
        raise ConversionError(f"torch.fx could not trace {type(model).__name__}: {err}") from None
    module = fx.GraphModule(model, graph)
    ShapeProp(module).propagate(example)
    records, current = [], None
    for node in graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise ConversionError(f"model takes more than one input ('{node.name}')")
            current = node
        elif node.op == "output":
            if node.args[0] is not current:
                raise ConversionError("model output is not the end of a single chain of layers")
        elif node.op == "get_attr" or _is_size(node):
            continue
        else:
            source = node.target if node.op == "call_module" else node.name
            if not node.args or node.args[0] is not current:
                raise ConversionError(f"'{source}' does not take the previous layer's output: hwgen-snn/1 "
                                      "networks are chains (no branches or residual connections)")
            records += _module(model, node) if node.op == "call_module" else _function(node, source)
            current = node
    return records
