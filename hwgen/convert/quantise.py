"""Normalise a float plan by its spike units, then quantise it to integers.

SPEC.md §3 with one generalisation for bursts: a spike of layer ``l`` is
worth :math:`u_l = \\lambda_l/\\Gamma_l` (with Γ = 1 this is λ; with QCFS and
Γ = L it is the quantisation step λ/L, which makes one timestep reproduce
the quantised ANN exactly). Then

.. math:: W'_l = W_l\\,u_{l-1}/u_l, \\qquad b'_l = b_l/u_l, \\qquad
          \\theta_l = \\mathrm{round}(s_l),\\ s_l = \\frac{2^{B-1}-1}{\\max|W'_l|}

    w_l = \\mathrm{clamp}(\\mathrm{rne}(W'_l\\theta_l)), \\qquad
    b_l = \\mathrm{rne}(b'_l\\theta_l)

with :math:`u_0 = 1/(2^{bits}-1)` for the integer pixels. The output layer
keeps :math:`u = 1` (logit units) and is scaled by :math:`s` unrounded.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import fixedpoint as fx
from ..errors import ConversionError
from ..network import InputSpec, Layer, Network, Neuron, Op
from ..reference import FloatLayer, FloatNetwork
from .config import ConvertConfig, VInit
from .fir import Act, PlanLayer


def normalised(plan: list[PlanLayer], lambdas: dict[str, float], bursts: dict[str, int],
               config: ConvertConfig) -> FloatNetwork:
    """The float SNN in spike units (thresholds 1, clip levels Γ)."""
    unit_in, layers = 1.0, []
    v_init = 0.5 if config.v_init is VInit.HALF else 0.0
    for layer in plan:
        if layer.op == "sumpool2d":
            layers.append(FloatLayer(layer.name, layer.op, stride=layer.stride, padding=layer.padding,
                                     kernel=layer.kernel))
            continue
        unit = lambdas[layer.name] / bursts[layer.name] if layer.act else 1.0
        weight = torch.from_numpy(layer.weight * (unit_in / unit))
        bias = None if layer.bias is None else torch.from_numpy(layer.bias / unit)
        act = None if layer.act is None else Act(layer.act.kind, layer.act.source, float(bursts[layer.name]),
                                                  layer.act.levels)
        layers.append(FloatLayer(layer.name, layer.op, weight, bias, layer.stride, layer.padding,
                                 act=act, v_init=v_init, burst=bursts.get(layer.name, 1)))
        unit_in = unit
    return FloatNetwork(tuple(layers), 1.0 / (2 ** config.input_bits - 1), config.timesteps)


def _scale(weight: np.ndarray, bits: int, name: str) -> float:
    peak = float(np.abs(weight).max(initial=0.0))
    if peak == 0:
        raise ConversionError(f"layer '{name}': all weights are zero")
    return (2 ** (bits - 1) - 1) / peak


def _bias(name: str, bias: np.ndarray | None, scale: float) -> np.ndarray | None:
    if bias is None:
        return None
    values = fx.rne(bias * scale)
    if np.abs(values).max(initial=0) >= 2 ** 31:
        raise ConversionError(f"layer '{name}': bias does not fit int32 at scale {scale:.4g}")
    return values.astype(np.int64)


def _neuron(layer: FloatLayer, threshold: int, i_lo, i_hi, config: ConvertConfig) -> Neuron:
    v_init = threshold // 2 if config.v_init is VInit.HALF else 0
    lo, hi = fx.membrane_range(i_lo, i_hi, threshold, v_init, layer.burst, config.timesteps)
    v_bits = config.v_bits or fx.width_for(lo, hi)
    if config.v_bits and fx.signed_range(v_bits)[1] < threshold:
        raise ConversionError(f"option v_bits: {v_bits} bits cannot hold layer '{layer.name}''s threshold "
                              f"{threshold} (needs at least {fx.width_for(0, threshold)})")
    if v_bits > fx.MAX_WIDTH:
        raise ConversionError(f"layer '{layer.name}': membrane needs {v_bits} bits (> {fx.MAX_WIDTH})")
    return Neuron(threshold, v_init, layer.burst, v_bits)


def quantised(network: FloatNetwork, config: ConvertConfig, input_shape: tuple[int, ...],
              meta: dict) -> Network:
    """Integer ``hwgen-snn/1`` network from a normalised float chain."""
    in_scale = network.input_scale
    in_lo, in_hi = fx.input_range(config.input_bits, False)
    layers = []
    for layer in network.layers:
        if layer.op == "sumpool2d":
            layers.append(Layer(layer.name, Op.SUMPOOL2D, kernel=layer.kernel, stride=layer.stride,
                                padding=layer.padding))
            area = layer.kernel[0] * layer.kernel[1]
            in_lo, in_hi = in_lo * area, in_hi * area
            continue
        w_float = layer.weight.numpy() * in_scale
        scale = _scale(w_float, config.weight_bits, layer.name)
        if layer.act is not None:
            scale = float(max(1, round(scale)))
        weight = fx.quantise(w_float, scale, config.weight_bits)
        bias = _bias(layer.name, None if layer.bias is None else layer.bias.numpy(), scale)
        i_lo, i_hi = fx.current_bounds(weight, bias, in_lo, in_hi)
        common = dict(weight=weight, bias=bias, stride=layer.stride, padding=layer.padding)
        if layer.act is None:
            acc_bits = config.acc_bits or fx.width_for(*fx.accumulator_range(i_lo, i_hi, config.timesteps))
            layers.append(Layer(layer.name, Op(layer.op), acc_bits=acc_bits, **common))
            meta.setdefault("layers", {}).setdefault(layer.name, {})["scale"] = scale
        else:
            layers.append(Layer(layer.name, Op(layer.op), neuron=_neuron(layer, int(scale), i_lo, i_hi, config),
                                **common))
            in_lo, in_hi = 0, layer.burst
        in_scale = 1.0
    spec = InputSpec(tuple(int(s) for s in input_shape), config.input_bits, False)
    return Network(config.timesteps, spec, tuple(layers), meta)
