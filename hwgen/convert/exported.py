"""Lower a ``torch.export`` program (a graph of aten ops) to the float-IR chain.

``torch.export.export(model, (example,))`` turns every module into aten ops
(``aten.conv2d``, ``aten.batch_norm``, ``aten.relu`` ...). Each node keeps an
``nn_module_stack``: the path and type of the modules it was called from,
which names layers exactly as :mod:`.trace` does for the live model.

* aten ops map one-to-one onto records through :data:`ATEN`; weights are the
  program's parameters (constant sub-expressions are evaluated).
* hwgen's own modules (:class:`~hwgen.nn.QCFS`, :class:`~hwgen.nn.RNL`,
  :class:`~hwgen.nn.Normalize`) are several aten ops; every node called from
  one of them is collapsed back into one record built from the module's
  parameters (``lam``/``levels``, ``p``/``running_max``, ``mean``/``std``).
  Nodes called from dropout modules and ``nn.Identity`` are dropped the same
  way (``Dropout1d`` alone becomes unsqueeze, feature_dropout, squeeze).
  The collapsed sub-graph is then run on a test tensor and must agree with
  hwgen's definition of the module, so an edited copy (e.g. QCFS with
  φ ≠ 1/2) is rejected instead of being converted wrongly.
"""
from __future__ import annotations

import math
import operator
from typing import Callable

import torch
from torch import fx
from torch.fx.operator_schemas import normalize_function

from .. import nn as hnn
from ..errors import ConversionError
from .fir import Act, ActKind, AvgPool, BatchNorm, Flatten, Normalise, Weighted, with_origin
from .handlers import array, pair

aten = torch.ops.aten
HWGEN_MODULES = {"hwgen.nn.QCFS": "QCFS", "hwgen.nn.RNL": "RNL", "hwgen.nn.Normalize": "Normalize"}
#: Modules that are the identity at inference, dropped whatever aten ops they became.
DROPPED_MODULES = {f"torch.nn.modules.dropout.{name}": name for name in
                   ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")}
DROPPED_MODULES["torch.nn.modules.linear.Identity"] = "Identity"
COLLAPSED = {**HWGEN_MODULES, **DROPPED_MODULES}
_PASS_THROUGH = ("dropout", "feature_dropout", "alpha_dropout", "clone", "contiguous", "alias", "detach")


def _type_name(value) -> str:
    return value if isinstance(value, str) else f"{value.__module__}.{value.__qualname__}"


class _Node:
    """One graph node with its module path, module type and shapes."""

    def __init__(self, node: fx.Node):
        self.node = node
        stack = [(path, _type_name(kind)) for path, kind in (node.meta.get("nn_module_stack") or {}).values()]
        self.owner = next(((p, t) for p, t in stack if t in COLLAPSED), None)
        path, kind = stack[-1] if stack else ("", "")
        self.op = getattr(node.target, "_opname", None) or getattr(node.target, "__name__", str(node.target))
        self.source = path or node.name
        self.origin = kind.rsplit(".", 1)[-1] if path else self.op
        self.label = f"module '{path}' ({self.origin})" if path else f"'{node.name}' (aten.{self.op})"

    def args(self) -> dict:
        """Arguments by schema name, defaults filled in."""
        pair_ = normalize_function(self.node.target, self.node.args, self.node.kwargs,
                                   normalize_to_only_use_kwargs=True)
        return dict(pair_.kwargs) if pair_ else dict(self.node.kwargs)

    def fail(self, reason: str):
        raise ConversionError(f"{self.label}: {reason}")


def _shape(node: fx.Node) -> tuple:
    value = node.meta.get("val")
    return tuple(value.shape) if isinstance(value, torch.Tensor) else ()


def _is_tensor(node: fx.Node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, torch.Tensor) or (
        isinstance(value, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in value))


class _Constants:
    """Values of nodes that do not depend on the input (parameters and their functions)."""

    def __init__(self, module: fx.GraphModule):
        self.module, self.cache = module, {}

    def __call__(self, node):
        if not isinstance(node, fx.Node):
            return node
        if node not in self.cache:
            if node.op == "get_attr":
                value = self.module
                for part in node.target.split("."):
                    value = getattr(value, part)
            elif node.op == "call_function":
                args, kwargs = fx.node.map_arg((node.args, node.kwargs), self)
                with torch.no_grad():
                    value = node.target(*args, **kwargs)
            else:
                raise ConversionError(f"'{node.name}': expected a parameter, got a {node.op} node")
            self.cache[node] = value
        return self.cache[node]

    def attribute(self, path: str, label: str):
        value = self.module
        try:
            for part in path.split("."):
                value = getattr(value, part)
        except AttributeError:
            raise ConversionError(f"{label}: the exported program has no '{path}'") from None
        return value


# --- aten ops -> records ---------------------------------------------------

ATEN: dict[str, Callable] = {}


def _handles(*names):
    def register(function):
        for name in names:
            ATEN[name] = function
        return function
    return register


@_handles("conv2d", "convolution")
def _conv(node: _Node, a: dict, const: _Constants):
    if pair(a.get("dilation", 1)) != (1, 1) or a.get("groups", 1) != 1 or a.get("transposed", False):
        node.fail("groups and dilation must be 1 (no transposed convolution)")
    if isinstance(a.get("padding"), str):
        node.fail("padding must be explicit integers")
    return [Weighted(node.source, array(const(a["weight"])), array(const(a.get("bias"))),
                     pair(a.get("stride", 1)), pair(a.get("padding", 0)))]


@_handles("linear")
def _linear(node: _Node, a: dict, const: _Constants):
    return [Weighted(node.source, array(const(a["weight"])), array(const(a.get("bias"))))]


@_handles("batch_norm", "_native_batch_norm_legit_no_training")
def _batch_norm(node: _Node, a: dict, const: _Constants):
    if a.get("training", False):
        node.fail("exported in training mode (batch statistics); call model.eval() before torch.export.export")
    mean = const(a["running_mean"])
    if mean is None:
        node.fail("needs running statistics (track_running_stats=True)")
    ones = torch.ones_like(mean)
    gamma, beta = const(a.get("weight")), const(a.get("bias"))
    return [BatchNorm(node.source, array(mean), array(const(a["running_var"])),
                      array(ones if gamma is None else gamma), array(0 * ones if beta is None else beta),
                      float(a["eps"]))]


@_handles("relu", "relu_")
def _relu(node: _Node, a: dict, const: _Constants):
    return [Act(ActKind.RELU, node.source)]


def _clip(node: _Node, low, high):
    if low is not None and float(low) == 0 and high is None:
        return [Act(ActKind.RELU, node.source)]
    if low is None or float(low) != 0 or high is None or float(high) <= 0:
        node.fail(f"only a clip to [0, m] with m > 0 converts, got [{low}, {high}]")
    return [Act(ActKind.CLIP, node.source, lam=float(high))]


@_handles("relu6", "relu6_")
def _relu6(node: _Node, a: dict, const: _Constants):
    return [Act(ActKind.CLIP, node.source, lam=6.0)]


@_handles("hardtanh", "hardtanh_")
def _hardtanh(node: _Node, a: dict, const: _Constants):
    return _clip(node, a.get("min_val", -1.0), a.get("max_val", 1.0))


@_handles("clamp", "clip", "clamp_")
def _clamp(node: _Node, a: dict, const: _Constants):
    return _clip(node, a.get("min"), a.get("max"))


@_handles("clamp_min", "clamp_min_")
def _clamp_min(node: _Node, a: dict, const: _Constants):
    if a.get("min") != 0:
        node.fail(f"only clamp_min(x, 0) (a ReLU) converts, got min={a.get('min')}")
    return [Act(ActKind.RELU, node.source)]


@_handles("avg_pool2d")
def _avg_pool(node: _Node, a: dict, const: _Constants):
    if a.get("ceil_mode") or not a.get("count_include_pad", True) or a.get("divisor_override") is not None:
        node.fail("needs ceil_mode=False, count_include_pad=True, no divisor_override")
    kernel = pair(a["kernel_size"])
    return [AvgPool(node.source, kernel, pair(a.get("stride") or kernel), pair(a.get("padding", 0)))]


def _global(node: _Node) -> list:
    size = tuple(int(s) for s in _shape(node.node.args[0])[2:])
    return [AvgPool(node.source, size, size)]


@_handles("adaptive_avg_pool2d", "_adaptive_avg_pool2d")
def _adaptive(node: _Node, a: dict, const: _Constants):
    if pair(a["output_size"]) != (1, 1):
        node.fail("only output_size=1 (global average pooling) converts")
    return _global(node)


@_handles("mean")
def _mean(node: _Node, a: dict, const: _Constants):
    rank = len(_shape(node.node.args[0]))
    if rank != 4 or {d % rank for d in (a.get("dim") or [])} != {2, 3}:
        node.fail("only a mean over the two spatial axes (global average pooling) converts")
    return _global(node)


@_handles("flatten", "view", "reshape", "_unsafe_view")
def _flatten(node: _Node, a: dict, const: _Constants):
    shape_in, shape_out = _shape(node.node.args[0]), _shape(node.node)
    if len(shape_out) != 2 or len(shape_in) < 2 or str(shape_out[0]) != str(shape_in[0]) \
            or int(shape_out[1]) != math.prod(int(s) for s in shape_in[1:]):
        node.fail(f"only a flatten to [N, features] converts (got {list(shape_in)} -> {list(shape_out)})")
    return [Flatten(node.source)]


@_handles(*_PASS_THROUGH)
def _nothing(node: _Node, a: dict, const: _Constants):
    return []


@_handles("max_pool2d", "max_pool2d_with_indices")
def _max_pool(node: _Node, a: dict, const: _Constants):
    node.fail("max pooling has no exact integer spiking form here; use nn.AvgPool2d "
              "(it becomes a sum pool with the 1/k² folded into the next layer)")


# --- hwgen modules, collapsed ------------------------------------------------

def _hwgen_record(path: str, kind: str, const: _Constants, label: str):
    """The record and a reference function for a hwgen module at ``path``."""
    get = (lambda name: const.attribute(f"{path}.{name}", label).detach())
    if kind == "QCFS":
        lam, levels = float(get("lam")), int(get("levels"))
        if lam <= 0:
            raise ConversionError(f"{label}: λ must be > 0, got {lam}")
        reference = hnn.QCFS(levels, lam, phi=0.5)
        return Act(ActKind.QCFS, path, lam=lam, levels=levels), reference, lam
    if kind == "RNL":
        reference = hnn.RNL().eval()
        reference.p.data.copy_(get("p"))
        reference.running_max.copy_(get("running_max"))
        lam = float(reference.threshold.detach())
        return Act(ActKind.RNL, path, lam=lam), reference, lam
    mean, std = get("mean"), get("std")
    return Normalise(path, array(mean), array(std)), hnn.Normalize(mean, std), 1.0


def _collapse(nodes: list[fx.Node], entry: fx.Node, exit_: fx.Node, const: _Constants, info: _Node):
    path, type_name = info.owner
    if type_name in DROPPED_MODULES:
        return []
    kind = HWGEN_MODULES[type_name]
    label = f"module '{path}' ({kind})"
    record, reference, scale = _hwgen_record(path, kind, const, label)
    rest = [int(s) for s in _shape(entry)[1:]]
    count = max(2, -(-4096 // max(1, math.prod(rest))))  # a dense probe over [-λ/2, 3λ/2]
    z = torch.linspace(-0.5, 1.5, count * math.prod(rest)).reshape(count, *rest) * scale
    env = {entry: z}
    with torch.no_grad():
        for node in nodes:
            if node not in env and _is_tensor(node):
                args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda n: env[n] if n in env else const(n))
                env[node] = node.target(*args, **kwargs)
        want = reference(z)
    if not torch.allclose(env[exit_], want, rtol=1e-5, atol=1e-6 * scale):
        raise ConversionError(f"{label}: the exported graph does not compute hwgen.nn.{kind} "
                              f"{'with φ = 1/2 ' if kind == 'QCFS' else ''}(was the module edited?)")
    return with_origin([record], kind)


# --- the walk ---------------------------------------------------------------

def _graph_module(program) -> fx.GraphModule:
    try:
        return program.module()
    except Exception as err:
        raise ConversionError(f"cannot rebuild the exported program: {str(err).splitlines()[0]}") from None


def _data_nodes(graph: fx.Graph, entry: fx.Node) -> set:
    data = {entry}
    for node in graph.nodes:
        if node.op in ("call_function", "call_method") and _is_tensor(node):
            if any(n in data for n in node.all_input_nodes):
                data.add(node)
    return data


def _input_shape(graph: fx.Graph) -> tuple[int, ...]:
    """Per-image input shape the exported program takes."""
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise ConversionError(f"the exported program takes {len(inputs)} inputs; hwgen needs exactly one image batch")
    shape = _shape(inputs[0])[1:]
    if not shape or not all(isinstance(s, int) for s in shape):
        raise ConversionError(f"the exported program's input shape {list(_shape(inputs[0]))} must be "
                              "[N, *image] with a static image shape")
    return shape


def lower_exported(program) -> tuple[list, tuple[int, ...]]:
    """The float-IR chain of an exported program (see the module docstring).

    Parameters
    ----------
    program : torch.export.ExportedProgram
        Exported from a model in eval mode with one image-batch input.

    Returns
    -------
    records : list
        Float-IR records, as :func:`hwgen.convert.trace.lower` gives.
    input_shape : tuple of int
        The per-image input shape the program takes.
    """
    module = _graph_module(program)
    graph = module.graph
    shape = _input_shape(graph)
    entry = next(n for n in graph.nodes if n.op == "placeholder")
    data, const = _data_nodes(graph, entry), _Constants(module)
    records, current, done = [], entry, set()
    for node in graph.nodes:
        if node not in data or node is entry or node in done:
            continue
        info = _Node(node)
        inputs = [n for n in node.all_input_nodes if n in data]
        if info.owner is not None:
            group = [n for n in graph.nodes if n not in done and _Node(n).owner == info.owner]
            inside = set(group)
            feeds = {u for n in group for u in n.all_input_nodes if u in data and u not in inside}
            exits = [n for n in group if n in data and any(u not in inside for u in n.users)]
            if feeds != {current} or len(exits) != 1:
                info.fail("does not take just the previous layer's output: hwgen-snn/1 networks are chains "
                          "(no branches or residual connections)")
            records += _collapse(group, current, exits[0], const, info)
            done |= inside
            current = exits[0]
            continue
        if inputs != [current]:
            info.fail("does not take just the previous layer's output: hwgen-snn/1 networks are chains "
                      "(no branches or residual connections)")
        if node.target is operator.getitem:
            if node.args[1] != 0:
                info.fail("only the first output of a multi-output op converts")
        else:
            handler = ATEN.get(info.op)
            if handler is None:
                info.fail(f"unsupported operation aten.{info.op}")
            records += with_origin(handler(info, info.args(), const), info.origin)
        current = node
    outputs = [n for n in graph.nodes if n.op == "output"]
    results = [n for n in outputs[0].all_input_nodes] if outputs else []
    if results != [current]:
        raise ConversionError("the exported program's output is not the end of a single chain of layers")
    return records, shape
