r"""Energy per inference: the integer SNN beside the same network as an ANN.

Operation counts
----------------
For weighted layer :math:`j` with :math:`M_j` multiply-accumulates per
timestep (unpadded taps only) and mean input spike count
:math:`\bar s_j(t)` per input element at step :math:`t` (a burst of
:math:`k` counts :math:`k`; a sum-pool keeps the total, so
:math:`\bar s_j(t) = S_{j-1}(t) / n_j` with :math:`S` the spikes the layer
before emitted and :math:`n_j` the input elements), the synaptic operations
of one inference are

.. math:: \mathrm{SOP}_j = M_j \sum_{t<T} \bar s_j(t).

The first layer sees the analog image; the accelerator computes its current
once and caches it, so it costs :math:`M_1` MACs per inference.

Model (a), burst-spike paper (arXiv 2311.14265), 45 nm:
:math:`E_{SNN} = 4.6\,\mathrm{pJ} \cdot M_1 + 0.9\,\mathrm{pJ} \sum_{j>1} \mathrm{SOP}_j`,
:math:`E_{ANN} = 4.6\,\mathrm{pJ} \sum_j M_j`.

Model (b), Horowitz (ISSCC 2014) 45 nm per-op and SRAM figures:
integer add :math:`E_+(b)` linear from 0.03 pJ (8 b) to 0.1 pJ (32 b),
multiply :math:`E_\times(b) = 0.2\,(b/8)^2` pJ (3.2 pJ at 32 b, quoted 3.1),
SRAM :math:`10/64` pJ per bit (64-bit read from an 8 KB SRAM = 10 pJ).
A synaptic op is an add at ``acc_bits`` plus a weight read; a neuron update
(every spiking neuron, every step) reads and writes its membrane and does
two adds at ``v_bits`` (:math:`V+I`, :math:`V-k\theta`); a MAC is an 8-bit
multiply, an add at the accumulator width, a weight and an input read. The
ANN does every MAC of every layer with 32-bit accumulation and writes each
8-bit activation once.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .network import Network, Op

PAPER_MAC_PJ, PAPER_AC_PJ = 4.6, 0.9
SRAM_PJ_PER_BIT = 10.0 / 64


def add_pj(bits: int) -> float:
    """Horowitz integer add, linear between 8 b (0.03 pJ) and 32 b (0.1 pJ)."""
    return 0.03 + (bits - 8) * (0.1 - 0.03) / 24


def mult_pj(bits: int) -> float:
    """Horowitz integer multiply, :math:`0.2 (b/8)^2` pJ."""
    return 0.2 * (bits / 8) ** 2


def _valid(size: int, kernel: int, stride: int, pad: int, out: int) -> int:
    """Unpadded taps summed over the output positions of one axis."""
    return sum(sum(1 for k in range(kernel) if 0 <= o * stride - pad + k < size) for o in range(out))


def layer_macs(network: Network) -> list[int]:
    """MACs per timestep of each layer (0 for pools)."""
    macs = []
    for layer, shape, out in zip(network.layers, network.shapes, network.shapes[1:]):
        if layer.op is Op.CONV2D:
            (kh, kw), (sh, sw), (ph, pw) = layer.window, layer.stride, layer.padding
            taps = _valid(shape[1], kh, sh, ph, out[1]) * _valid(shape[2], kw, sw, pw, out[2])
            macs.append(taps * shape[0] * out[0])
        elif layer.op is Op.LINEAR:
            macs.append(int(layer.weight.size))
        else:
            macs.append(0)
    return macs


@dataclass(frozen=True)
class Energy:
    """Energy per inference in pJ, both models, with the counts behind them."""

    first_layer_macs: int
    synaptic_ops: float
    ann_macs: int
    neuron_updates: int
    paper_snn_pj: float
    paper_ann_pj: float
    horowitz_snn_pj: float
    horowitz_ann_pj: float

    @property
    def paper_ratio(self) -> float:
        return self.paper_snn_pj / self.paper_ann_pj

    @property
    def horowitz_ratio(self) -> float:
        return self.horowitz_snn_pj / self.horowitz_ann_pj

    def to_json(self) -> dict:
        return {**asdict(self), "paper_ratio": self.paper_ratio, "horowitz_ratio": self.horowitz_ratio}


def synaptic_ops(network: Network, spikes: dict[str, np.ndarray]) -> tuple[int, float]:
    """``(first-layer MACs, mean synaptic ops)`` of one inference.

    ``spikes`` maps spiking layer names to ``[N, T]`` spike counts (the golden
    model's :attr:`~hwgen.sim.golden.GoldenResult.spikes`).
    """
    macs, shapes = layer_macs(network), network.shapes
    first, sops, pending = None, 0.0, None
    for index, layer in enumerate(network.layers):
        if layer.has_weights:
            if first is None:
                first = macs[index]
            elif pending is not None:
                per_input = pending / math.prod(shapes[index])       # mean s at each step, [T]
                sops += macs[index] * float(per_input.sum())
        if layer.neuron is not None:
            pending = spikes[layer.name].mean(axis=0)                # [T], mean over images
    return int(first or 0), sops


def energy(network: Network, spikes: dict[str, np.ndarray]) -> Energy:
    """Both energy models for ``network`` with the measured ``spikes`` (see the module docstring)."""
    first, sops = synaptic_ops(network, spikes)
    macs = layer_macs(network)
    weighted = [layer for layer in network.layers if layer.has_weights]
    w_bits = max(int(np.abs(layer.weight).max()).bit_length() + 1 for layer in weighted)
    acc_bits = max(layer.acc_bits or 32 for layer in weighted if layer.neuron is None) \
        if any(layer.neuron is None for layer in weighted) else 32
    spiking = [(layer, math.prod(shape)) for layer, shape in zip(network.layers, network.shapes[1:])
               if layer.neuron is not None]
    updates = network.timesteps * sum(n for _, n in spiking)
    v_bits = max((layer.neuron.v_bits for layer, _ in spiking), default=16)
    read = SRAM_PJ_PER_BIT
    mac_pj = mult_pj(8) + add_pj(acc_bits) + (w_bits + network.input.bits) * read
    snn = (first * mac_pj + sops * (add_pj(acc_bits) + w_bits * read)
           + updates * (2 * v_bits * read + 2 * add_pj(v_bits)))
    ann_neurons = sum(math.prod(shape) for layer, shape in zip(network.layers, network.shapes[1:])
                      if layer.has_weights)
    ann = sum(macs) * (mult_pj(8) + add_pj(32) + 16 * read) + ann_neurons * (add_pj(32) + 8 * read)
    return Energy(first, sops, int(sum(macs)), updates, PAPER_MAC_PJ * first + PAPER_AC_PJ * sops,
                  PAPER_MAC_PJ * sum(macs), snn, ann)
