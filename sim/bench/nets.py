"""Networks for RTL tests and benchmarks: a demo-shaped random CNN.

:func:`demo_like` builds the demo's shape (conv 1->8 3x3 pad 1, avgpool 2,
conv 8->16 3x3 pad 1, avgpool 2, linear -> 64, linear -> 10, T = 4) with
random int8 weights and per-layer thresholds calibrated on random images so
that a fair share of neurons fire; ``size`` and ``channels`` shrink it for
fast tests.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hwgen.fixedpoint import fire
from hwgen.network import InputSpec, Layer, Network, Neuron, Op

from ..ops import sum_pool, weighted_sum


def _neuron(current: np.ndarray, burst: int) -> Neuron:
    positive = current[current > 0]
    theta = max(1, int(np.percentile(positive, 70))) if positive.size else 1
    return Neuron(theta, theta // 2, burst, 24)


def demo_like(seed: int = 0, size: int = 28, channels: tuple[int, int] = (8, 16), hidden: int = 64,
              classes: int = 10, timesteps: int = 4, burst: int = 1) -> Network:
    """A demo-shaped network with calibrated thresholds (see module docstring)."""
    rng = np.random.default_rng(seed)
    x = images(seed, 16, size)
    c1, c2 = channels
    specs = [("conv1", Op.CONV2D, (c1, 1, 3, 3)), ("pool1", Op.SUMPOOL2D, None),
             ("conv2", Op.CONV2D, (c2, c1, 3, 3)), ("pool2", Op.SUMPOOL2D, None),
             ("fc1", Op.LINEAR, (hidden, c2 * (size // 4) ** 2)), ("out", Op.LINEAR, (classes, hidden))]
    layers, s = [], x
    for name, op, shape in specs:
        if op is Op.SUMPOOL2D:
            layer = Layer(name, op, kernel=(2, 2), stride=(2, 2))
            layers.append(layer)
            s = sum_pool(layer, s)
            continue
        weight = np.clip(np.rint(rng.normal(0, 40, shape)), -127, 127).astype(np.int64)
        bias = rng.integers(-50, 50, shape[0])
        geo = dict(stride=(1, 1), padding=(1, 1)) if op is Op.CONV2D else {}
        probe = Layer(name, op, weight=weight, bias=bias, **geo)
        current = weighted_sum(probe, s, np.int64)
        if name == "out":
            layers.append(Layer(name, op, weight=weight, bias=bias, acc_bits=32))
            break
        neuron = _neuron(current, burst)
        layers.append(Layer(name, op, weight=weight, bias=bias, neuron=neuron, **geo))
        s, _ = fire(current + neuron.v_init, neuron.threshold, burst)
    return Network(timesteps, InputSpec((1, size, size), 8, False), tuple(layers))


def with_widths(network: Network, bits: int) -> Network:
    """``network`` with every membrane (``v_bits``) and output accumulator (``acc_bits``) ``bits``
    wide: ``demo_like`` sizes them for its random weights (24-32 bits), the trained demo CNN's
    are 16-20."""
    layers = tuple(dataclasses.replace(layer, neuron=dataclasses.replace(layer.neuron, v_bits=bits))
                   if layer.neuron else dataclasses.replace(layer, acc_bits=bits) if layer.has_weights else layer
                   for layer in network.layers)
    return dataclasses.replace(network, layers=layers)


def images(seed: int, count: int, size: int = 28) -> np.ndarray:
    """Fashion-MNIST-like random images: a blob of bright pixels on black."""
    rng = np.random.default_rng(seed + 1000)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((count, 1, size, size), dtype=np.int64)
    for i in range(count):
        cy, cx, r = rng.uniform(size * 0.3, size * 0.7, 2).tolist() + [rng.uniform(size * 0.2, size * 0.45)]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        out[i, 0] = np.where(mask, rng.integers(60, 256, (size, size)), 0)
    return out
