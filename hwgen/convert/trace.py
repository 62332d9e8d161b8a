"""Lower a torch model to a chain of float-IR records with ``torch.fx``.

Works for ``nn.Sequential`` and for ordinary ``forward()`` methods: the model
is symbolically traced (hwgen's own activations are kept as leaves), shapes
are propagated with an example input, and every node is handed to the
handler registered for its module type (:mod:`.handlers`) or to a small table
of functional equivalents below. Anything else is an error naming the node
and its type.
"""
from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from .. import nn as hnn
from ..errors import ConversionError
from .fir import Act, ActKind, AvgPool, Flatten, with_origin
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


def _name(node: fx.Node) -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def _clip(source: str, name: str, low, high):
    if low == 0 and high is None:
        return [Act(ActKind.RELU, source)]
    if low != 0 or high is None or high <= 0:
        raise ConversionError(f"'{source}' ({name}): only a clamp to [0, m] with m > 0 converts, got [{low}, {high}]")
    return [Act(ActKind.CLIP, source, lam=float(high))]


class _Shapes(fx.Interpreter):
    """Runs the traced model once, storing every tensor's shape in ``node.meta``."""

    def run_node(self, node):
        result = super().run_node(node)
        if isinstance(result, torch.Tensor):
            node.meta["hwgen_shape"] = tuple(result.shape)
        return result


def _shape(node) -> tuple:
    return node.meta["hwgen_shape"]


def _is_flatten(node: fx.Node) -> bool:
    shape_in, shape_out = _shape(node.args[0]), _shape(node)
    return len(shape_out) == 2 and shape_out[0] == shape_in[0]


def _global_pool(node: fx.Node, source: str) -> list:
    size = _shape(node.args[0])[2:]
    return [AvgPool(source, size, size)]


def _mean(node: fx.Node, source: str) -> list:
    dims = _kwarg(node, 1, "dim")
    rank = len(_shape(node.args[0]))
    dims = {d % rank for d in (dims if isinstance(dims, (list, tuple)) else [dims])} if dims is not None else None
    if rank != 4 or dims != {2, 3}:
        raise ConversionError(f"'{source}' (mean): only a mean over the two spatial axes (global average pooling) "
                              "converts")
    return _global_pool(node, source)


def _avg_pool(node: fx.Node, source: str) -> list:
    kernel = pair(_kwarg(node, 1, "kernel_size"))
    stride = _kwarg(node, 2, "stride") or kernel
    if (_kwarg(node, 4, "ceil_mode", False) or not _kwarg(node, 5, "count_include_pad", True)
            or _kwarg(node, 6, "divisor_override") is not None):
        raise ConversionError(f"'{source}' (avg_pool2d): avg_pool2d needs ceil_mode=False, count_include_pad=True and no "
                              "divisor_override")
    return [AvgPool(source, kernel, pair(stride), pair(_kwarg(node, 3, "padding", 0)))]


def _function(node: fx.Node, source: str):
    """Float IR for a ``call_function`` / ``call_method`` node."""
    target, name = node.target, _name(node)
    if target in (F.relu, torch.relu) or name in ("relu", "relu_"):
        return [Act(ActKind.RELU, source)]
    if target in (torch.flatten,) or name in ("flatten", "view", "reshape"):
        if not _is_flatten(node):
            raise ConversionError(f"'{source}' ({name}): only a flatten to [N, features] converts")
        return [Flatten(source)]
    if target in (torch.clamp, torch.clip) or name in ("clamp", "clip"):
        return _clip(source, name, _kwarg(node, 1, "min"), _kwarg(node, 2, "max"))
    if target is F.hardtanh:
        return _clip(source, name, _kwarg(node, 1, "min_val", -1.0), _kwarg(node, 2, "max_val", 1.0))
    if target is F.relu6:
        return [Act(ActKind.CLIP, source, lam=6.0)]
    if target in (F.dropout, F.dropout1d, F.dropout2d) or name in ("dropout", "contiguous"):
        return []
    if target is F.avg_pool2d:
        return _avg_pool(node, source)
    if target is F.adaptive_avg_pool2d:
        if pair(_kwarg(node, 1, "output_size")) != (1, 1):
            raise ConversionError(f"'{source}' ({name}): only output_size=1 (global average pooling) converts")
        return _global_pool(node, source)
    if target is torch.mean or name == "mean":
        return _mean(node, source)
    if target in (F.max_pool2d, torch.max_pool2d) or name in ("max_pool2d", "max_pool2d_with_indices"):
        raise ConversionError(f"'{source}' ({name}): max pooling does not convert; use avg_pool2d "
                              "(nn.AvgPool2d), which becomes a sum pool")
    raise ConversionError(f"'{source}' ({name}): unsupported operation")


def _module(model: nn.Module, node: fx.Node):
    module = model.get_submodule(node.target)
    records = MODULE_HANDLERS[type(module)](module, node.target)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        records = _global_pool(node, node.target)
    return records


def _check_modules(model: nn.Module, graph: fx.Graph) -> None:
    """Reject unsupported module types before running anything."""
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        module = model.get_submodule(node.target)
        if type(module) not in MODULE_HANDLERS:
            supported = ", ".join(sorted({t.__name__ for t in MODULE_HANDLERS}))
            raise ConversionError(f"module '{node.target}' ({type(module).__name__}): unsupported layer type; "
                                  f"supported: {supported}")


def _is_size(node) -> bool:
    """A node computing a shape (``x.size(0)``, ``x.shape[0]``), not data."""
    if not isinstance(node, fx.Node):
        return False
    if node.target in ("size", "dim") or (node.target is getattr and node.args[1] in ("shape", "ndim")):
        return True
    return node.target is operator.getitem and _is_size(node.args[0])


def _data_inputs(node: fx.Node) -> list[fx.Node]:
    found = []
    fx.node.map_arg((node.args, node.kwargs),
                    lambda n: found.append(n) if not _is_size(n) and n.op != "get_attr" else None)
    return found


def _describe(model: nn.Module, node: fx.Node) -> str:
    if node.op == "call_module":
        return f"'{node.target}' ({type(model.get_submodule(node.target)).__name__})"
    return f"'{node.name}' ({_name(node)})"


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
        raise ConversionError(f"torch.fx could not trace {type(model).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    _check_modules(model, graph)
    module = fx.GraphModule(model, graph)
    try:
        with torch.no_grad():
            _Shapes(module).run(example)
    except Exception as err:
        raise ConversionError(f"{type(model).__name__} fails on an input of shape {list(example.shape)[1:]} "
                              f"(per image): {(str(err) or type(err).__name__).splitlines()[0]}") from None
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
            if _data_inputs(node) != [current]:
                raise ConversionError(f"{_describe(model, node)} does not take just the previous layer's output: "
                                      "hwgen-snn/1 networks are chains (no branches or residual connections)")
            if node.op == "call_module":
                new = with_origin(_module(model, node), type(model.get_submodule(node.target)).__name__)
            else:
                new = with_origin(_function(node, node.name), _name(node))
            records += new
            current = node
    return records
