"""Small passes from a chain of float-IR records to :class:`PlanLayer` objects.

Each pass is exact in float arithmetic (tests check ≤ 1e-5):

* :func:`fold_normalisation`: :math:`W' = W/\\sigma_c`,
  :math:`b' = b - \\sum W \\mu_c/\\sigma_c` into the first conv/linear.
* :func:`fold_batch_norm`: :math:`W' = aW`, :math:`b' = a b + c` with
  :math:`a = \\gamma/\\sqrt{\\sigma^2+\\epsilon}`, :math:`c = \\beta - a\\mu`.
* :func:`group`: pairs each conv/linear with its activation, turns average
  pools into sum pools and folds their :math:`1/k^2` into the next weights.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from ..errors import ConversionError
from .fir import Act, AvgPool, BatchNorm, Flatten, Normalise, PlanLayer, Weighted, describe


def _per_input(norm: Normalise, values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Broadcast per-channel ``values`` over a weight's input axis."""
    fan_in = weight.shape[1]
    if weight.ndim == 4:
        if values.size not in (1, fan_in):
            raise ConversionError(f"{describe(norm)}: normalisation has {values.size} channels but the first "
                                  f"convolution has {fan_in} input channels")
        return values.reshape(1, -1, 1, 1)
    if fan_in % values.size:
        raise ConversionError(f"{describe(norm)}: normalisation has {values.size} channels but the first "
                              f"layer has {fan_in} inputs")
    return np.repeat(values, fan_in // values.size).reshape(1, -1)


def fold_normalisation(records: list) -> list:
    """Fold a leading :class:`Normalise` into the first weighted layer."""
    if not records or not isinstance(records[0], Normalise):
        late = next((r for r in records if isinstance(r, Normalise)), None)
        if late is not None:
            raise ConversionError(f"{describe(late)}: input normalisation must come first in the model")
        return records
    if any(isinstance(r, Normalise) for r in records[1:]):
        second = next(r for r in records[1:] if isinstance(r, Normalise))
        raise ConversionError(f"{describe(second)}: only one input normalisation converts (was input_mean/"
                              "input_std given for a model that normalises its input itself?)")
    norm, rest = records[0], records[1:]
    first = next((i for i, r in enumerate(rest) if not isinstance(r, Flatten)), None)
    if first is None or not isinstance(rest[first], Weighted):
        raise ConversionError(f"{describe(norm)}: input normalisation must be followed by a conv or linear layer")
    layer = rest[first]
    inv_std = _per_input(norm, 1.0 / norm.std, layer.weight)
    shift = _per_input(norm, norm.mean, layer.weight)
    weight = layer.weight * inv_std
    bias = (layer.bias if layer.bias is not None else 0.0) - (weight * shift).reshape(len(weight), -1).sum(1)
    if layer.is_conv and any(layer.padding) and np.any(norm.mean != 0):
        warnings.warn(f"'{layer.source}': folding a non-zero input mean into a padded convolution is exact "
                      "inside the image only (the padding sees -mean/std before folding, 0 after)")
    return rest[:first] + [replace(layer, weight=weight, bias=bias)] + rest[first + 1:]


def fold_batch_norm(records: list) -> list:
    """Fold every :class:`BatchNorm` into the conv/linear right before it."""
    out = []
    for record in records:
        if not isinstance(record, BatchNorm):
            out.append(record)
            continue
        if not out or not isinstance(out[-1], Weighted):
            raise ConversionError(f"{describe(record)}: batch norm must directly follow a conv or linear layer")
        layer = out.pop()
        scale, shift = record.scale_shift()
        bias = layer.bias if layer.bias is not None else np.zeros(len(layer.weight))
        weight = layer.weight * scale.reshape((-1,) + (1,) * (layer.weight.ndim - 1))
        out.append(replace(layer, weight=weight, bias=scale * bias + shift))
    return out


def _plan_layer(layer: Weighted, act: Act | None, pool_scale: float) -> PlanLayer:
    return PlanLayer(layer.source, "conv2d" if layer.is_conv else "linear", layer.source,
                     weight=layer.weight * pool_scale, bias=layer.bias, stride=layer.stride,
                     padding=layer.padding, act=act)


def group(records: list) -> list[PlanLayer]:
    """Pair weighted layers with activations; average pools become sum pools."""
    plan, pending, pool_scale = [], None, 1.0
    for record in records:
        if isinstance(record, Weighted):
            if pending is not None:
                raise ConversionError(f"{describe(record)} follows {describe(pending)} with no activation "
                                      "between them; every hidden conv/linear needs one")
            pending = record
        elif isinstance(record, Act):
            if pending is None:
                raise ConversionError(f"activation {describe(record)} does not follow a conv or linear layer; "
                                      "an activation needs a weighted layer before it")
            plan.append(_plan_layer(pending, record, pool_scale))
            pending, pool_scale = None, 1.0
        elif isinstance(record, AvgPool):
            if pending is not None:
                raise ConversionError(f"average pool {describe(record)} comes before the activation of "
                                      f"{describe(pending)}; put it after the activation")
            plan.append(PlanLayer(record.source, "sumpool2d", record.source, kernel=record.kernel,
                                  stride=record.stride, padding=record.padding))
            pool_scale /= record.kernel[0] * record.kernel[1]
        elif not isinstance(record, Flatten):
            raise ConversionError(f"{describe(record)}: {type(record).__name__} cannot appear here")
    if pending is None:
        last = f"; it ends with {describe(records[-1])}" if records else " (it has no layers)"
        raise ConversionError("the model must end with a conv or linear layer without activation "
                              f"(the logits){last}")
    plan.append(_plan_layer(pending, None, pool_scale))
    return _unique_names(plan)


def _unique_names(plan: list[PlanLayer]) -> list[PlanLayer]:
    seen, out = set(), []
    for layer in plan:
        name, n = layer.name or layer.op, 1
        while name in seen:
            n += 1
            name = f"{layer.name}_{n}"
        seen.add(name)
        out.append(PlanLayer(name, layer.op, layer.source, layer.weight, layer.bias, layer.stride,
                             layer.padding, layer.kernel, layer.act))
    return out


def run_passes(records: list) -> list[PlanLayer]:
    """The whole pipeline: normalisation, batch norm, grouping."""
    return group(fold_batch_norm(fold_normalisation(records)))
