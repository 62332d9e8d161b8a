"""SNN bias calibration (Li et al., ICML 2021): per-channel bias offsets.

In the normalised frame (spike units, threshold 1) a spiking layer's ANN
output is :math:`a = h(z) \\in [0, \\Gamma]` and its SNN output after ``T``
steps is the rate :math:`r = \\frac{1}{T}\\sum_t k_t`. With a constant input
the two agree (QCFS with ``T = L``, ``v_init = θ/2``: exactly), but a deeper
layer's input is a spike train whose timing is uneven, so ``r`` is biased:
a neuron fires on an early transient and cannot take the spike back, or
needs more than Γ spikes in a late step. Bias calibration adds an offset
:math:`\\delta_c` (spike units per step) to the bias of every output channel
``c`` (every neuron of a linear layer),

.. math:: b_c \\leftarrow b_c + \\delta_c ,

one spiking layer at a time from the first to the last, each on the spikes
of the layers before it *as already calibrated* (their outputs change, so
the order matters). With :math:`E_c` the mean over the calibration images
and the channel's positions, and :math:`r(\\delta)` the rate the layer
produces on those input spikes with its bias moved by :math:`\\delta`:

* ``"mean"`` (Li et al.'s bias correction):
  :math:`\\delta_c = E_c[a - r(0)]`. If the rate moved one-for-one with the
  offset, :math:`r(\\delta) = r(0) + \\delta`, this would match the mean
  rates and minimise :math:`E_c[(a - r(\\delta))^2]`;
* ``"mse"``: :math:`\\delta_c = \\arg\\min_\\delta E_c[(a - r(\\delta))^2]`
  with the real, floor-and-clamp response :math:`r(\\delta)` (simulated).
  Starting at the ``"mean"`` offset, it tries :math:`\\delta + jh` for
  :math:`j = -4 \\dots 4`, keeps the best (ties: the smallest :math:`|j|`),
  and repeats with :math:`h/4`; :math:`h` starts at :math:`1/(2T)`
  (:data:`ROUNDS` rounds).

The ANN targets come from the uncalibrated float ANN, the rates from the
float SNN (:func:`hwgen.reference.snn_currents`). The offsets are added
before quantisation, so the integer biases and the never-saturating widths
(SPEC §3) already include them; nothing in the network format changes. The
offsets are fitted for the network's ``T`` and its calibration images only:
a network calibrated for ``T = 4`` is not calibrated for other ``T``.
Memory: the layer's currents, ``T · N · C · H · W`` float32 values.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..reference import FloatLayer, FloatNetwork, activation, ann_logits, fire, snn_currents
from .config import BiasCalibration

ROUNDS = 3
SPAN = 4


def _per_channel(values: torch.Tensor) -> torch.Tensor:
    """``[N, C, ...]`` -> ``[C, N · positions]``."""
    return values.transpose(0, 1).reshape(values.shape[1], -1)


def rates(layer: FloatLayer, current: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Firing rates of ``layer`` on the currents ``[T, C, M]`` with bias offsets ``[C]``.

    .. math:: V_0 = v_{init}\\theta, \\quad V \\leftarrow V + I_t + \\delta_c, \\quad
              k_t = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma), \\quad
              V \\leftarrow V - k_t\\theta, \\quad r = \\frac{1}{T}\\sum_t k_t
    """
    v = torch.full_like(current[0], layer.v_init * layer.threshold)
    total = torch.zeros_like(v)
    shift = offset.to(current.dtype)[:, None]
    for step in current:
        spikes, v = fire(v + step + shift, layer.threshold, layer.burst)
        total += spikes
    return total / len(current)


def _squared_error(layer, current, target, offset) -> torch.Tensor:
    return ((target - rates(layer, current, offset)) ** 2).mean(dim=1)


def layer_offsets(layer: FloatLayer, current: torch.Tensor, target: torch.Tensor,
                  method: BiasCalibration) -> torch.Tensor:
    """The offsets :math:`\\delta_c` of one layer (module docstring).

    Parameters
    ----------
    layer : FloatLayer
        A spiking layer of the normalised float SNN.
    current : Tensor ``[T, C, M]``
        Its input current per step, channel and sample (image and position).
    target : Tensor ``[C, M]``
        The ANN activations in spike units.
    method : BiasCalibration
        ``MEAN`` or ``MSE``.
    """
    offset = (target - rates(layer, current, torch.zeros(len(target)))).mean(dim=1)
    if method is BiasCalibration.MEAN:
        return offset
    channels = torch.arange(len(target))
    steps = sorted(range(-SPAN, SPAN + 1), key=abs)
    size = 1.0 / (2 * len(current))
    for _ in range(ROUNDS):
        candidates = torch.stack([offset + j * size for j in steps])
        errors = torch.stack([_squared_error(layer, current, target, c) for c in candidates])
        offset = candidates[errors.argmin(dim=0), channels]
        size /= SPAN
    return offset


def calibrate_biases(network: FloatNetwork, x: np.ndarray, method: BiasCalibration
                     ) -> tuple[FloatNetwork, dict[str, np.ndarray]]:
    """Bias-calibrate every spiking layer of a normalised float SNN, front to back.

    Parameters
    ----------
    network : FloatNetwork
        The normalised float SNN (spike units); its ``timesteps`` is ``T``.
    x : ndarray of int
        Calibration pixels ``[N, *input_shape]``.
    method : BiasCalibration
        ``MEAN`` or ``MSE`` (module docstring).

    Returns
    -------
    network : FloatNetwork
        The same chain with :math:`b_c + \\delta_c` as biases.
    offsets : dict
        :math:`\\delta` per spiking layer name (spike units per step).
    """
    record: dict[str, torch.Tensor] = {}
    ann_logits(network, x, record=record, dtype=torch.float64)
    layers, offsets = list(network.layers), {}
    for index, layer in enumerate(network.layers):
        if not layer.spiking:
            continue
        target = _per_channel(activation(layer.act, record[layer.name])).float()
        current = snn_currents(replace(network, layers=tuple(layers)), x, index)
        current = torch.stack([_per_channel(step) for step in current])
        offset = layer_offsets(layer, current, target, method).double()
        bias = layer.bias if layer.bias is not None else torch.zeros(len(offset), dtype=layer.weight.dtype)
        layers[index] = replace(layer, bias=(bias.double() + offset).to(layer.weight.dtype))
        offsets[layer.name] = offset.numpy()
    return replace(network, layers=tuple(layers)), offsets
