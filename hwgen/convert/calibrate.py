"""Thresholds λ per activation: learned ones as they are, ReLU's from data.

Data-based normalisation (Rueckauer et al., 2016): λ is the maximum, or the
p-th percentile, of the layer's positive activations on calibration data.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConversionError
from ..reference import FloatLayer, FloatNetwork, ann_logits
from .config import ConvertConfig, Norm
from .fir import ActKind, PlanLayer


def plan_network(plan: list[PlanLayer], input_scale: float, lambdas: dict[str, float] | None = None
                 ) -> FloatNetwork:
    """The plan as a float chain in original units (ReLU unclipped unless λ given)."""
    layers = []
    for layer in plan:
        act = layer.act
        if act is not None and lambdas and act.kind is ActKind.RELU:
            act = type(act)(ActKind.CLIP, act.source, lam=lambdas[layer.name])
        t = (lambda a: None if a is None else torch.from_numpy(a))
        layers.append(FloatLayer(layer.name, layer.op, t(layer.weight), t(layer.bias), layer.stride,
                                 layer.padding, layer.kernel, act))
    return FloatNetwork(tuple(layers), input_scale)


def _percentile(values: torch.Tensor, percentile: float) -> float:
    positive = values[values > 0].double()
    if positive.numel() == 0:
        return 0.0
    if percentile >= 100:
        return float(positive.max())
    sample = positive if positive.numel() <= 2_000_000 else positive[
        torch.randperm(positive.numel(), generator=torch.Generator().manual_seed(0))[:2_000_000]]
    return float(np.percentile(sample.numpy(), percentile))


def thresholds(plan: list[PlanLayer], calibration: np.ndarray, config: ConvertConfig) -> dict[str, float]:
    """λ for every spiking layer of ``plan``."""
    needs_data = [l.name for l in plan if l.act is not None and l.act.lam is None]
    recorded: dict[str, torch.Tensor] = {}
    if needs_data:
        if calibration is None or len(calibration) == 0:
            raise ConversionError(f"ReLU layers {needs_data} need calibration data to set their thresholds")
        ann_logits(plan_network(plan, 1.0 / (2 ** config.input_bits - 1)), calibration, record=recorded)
    lambdas = {}
    for layer in plan:
        if layer.act is None:
            continue
        if layer.act.lam is not None:
            lambdas[layer.name] = layer.act.lam
            continue
        p = 100.0 if config.norm is Norm.MAX else config.percentile
        lam = _percentile(recorded[layer.name], p)
        if lam <= 0:
            raise ConversionError(f"layer '{layer.name}': no positive activation on the calibration data, "
                                  "so its threshold cannot be set")
        lambdas[layer.name] = lam
    return lambdas
