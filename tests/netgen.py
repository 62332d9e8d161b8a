"""Random tiny valid :class:`hwgen.Network` objects and their inputs.

One generator, two sources of choices: a seed (:func:`random_network`,
:func:`random_inputs`) or hypothesis draws (:func:`networks`,
:func:`inputs`, :func:`networks_and_inputs`). Structure is drawn choice by
choice so hypothesis can shrink it; array contents come from a drawn numpy
seed (large arrays would overrun hypothesis' buffer).

Shapes are small, thresholds and membrane widths are chosen so that burst
clamps, negative membranes and saturation all happen regularly.
"""
from __future__ import annotations

import random

import numpy as np
from hypothesis import strategies as st

from hwgen import InputSpec, Layer, Network, Neuron, Op

#: Weight magnitude bounds: int8 most of the time, sometimes int16-ish.
WEIGHT_BOUNDS = (127, 127, 127, 2000, 32767)


class SeedPicker:
    """Choices from a seeded ``random.Random`` (and numpy for arrays)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.np = np.random.default_rng(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def array(self, lo: int, hi: int, shape) -> np.ndarray:
        return self.np.integers(lo, hi + 1, size=shape, dtype=np.int64)


class DrawPicker:
    """Choices from a hypothesis ``draw``."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def array(self, lo: int, hi: int, shape) -> np.ndarray:
        seed = self.draw(st.integers(0, 2**32 - 1))
        return np.random.default_rng(seed).integers(lo, hi + 1, size=shape, dtype=np.int64)


def _bits_for(value: int) -> int:
    """Smallest signed width whose maximum is >= ``value``."""
    bits = 2
    while 2 ** (bits - 1) - 1 < value:
        bits += 1
    return bits


def _neuron(pick) -> Neuron:
    threshold = pick.integer(1, 500)
    v_bits = pick.integer(max(6, _bits_for(threshold)), 20)
    v_init = pick.integer(-threshold, threshold)
    return Neuron(threshold, v_init, pick.integer(1, 4), v_bits)


def _params(pick, out: int, fan_in: tuple[int, ...]):
    """``(weight, bias)`` with ``weight`` of shape ``[out, *fan_in]``; bias may be None."""
    bound = WEIGHT_BOUNDS[pick.integer(0, len(WEIGHT_BOUNDS) - 1)]
    weight = pick.array(-bound, bound, (out, *fan_in))
    bias = None if pick.integer(0, 3) == 0 else pick.array(-1000, 1000, (out,))
    return weight, bias


def _window(pick, size: int, pad: int) -> int:
    """A window 1..3 that fits ``size`` with padding ``pad``."""
    return pick.integer(1, min(3, size + 2 * pad))


def _geometry(pick, shape):
    """``(window, stride, padding)`` pairs that fit ``shape`` = ``(C, H, W)``."""
    padding = (pick.integer(0, 1), pick.integer(0, 1))
    window = (_window(pick, shape[1], padding[0]), _window(pick, shape[2], padding[1]))
    stride = (pick.integer(1, 2), pick.integer(1, 2))
    return window, stride, padding


def _spatial_layer(pick, name: str, shape, neuron: Neuron | None, acc_bits=None) -> Layer:
    """A conv2d, or (when spiking is allowed and picked) a sumpool2d."""
    window, stride, padding = _geometry(pick, shape)
    if neuron is not None and pick.integer(0, 2) == 0:
        return Layer(name, Op.SUMPOOL2D, kernel=window, stride=stride, padding=padding)
    weight, bias = _params(pick, pick.integer(1, 4), (shape[0], *window))
    return Layer(name, Op.CONV2D, weight=weight, bias=bias, stride=stride, padding=padding,
                 neuron=neuron, acc_bits=acc_bits)


def _linear(pick, name: str, shape, out: int, neuron: Neuron | None, acc_bits=None) -> Layer:
    weight, bias = _params(pick, out, (int(np.prod(shape)),))
    return Layer(name, Op.LINEAR, weight=weight, bias=bias, neuron=neuron, acc_bits=acc_bits)


def _input_spec(pick) -> InputSpec:
    if pick.integer(0, 1):
        shape = (pick.integer(1, 2), pick.integer(4, 7), pick.integer(4, 7))
    else:
        shape = (pick.integer(3, 10),)
    return InputSpec(shape, bits=pick.integer(1, 8), signed=pick.integer(0, 4) == 0)


def build(pick) -> Network:
    """A random valid network from the choices of ``pick``."""
    spec = _input_spec(pick)
    layers, shape = [], spec.shape
    if len(shape) == 3:
        for index in range(pick.integer(0, 3)):
            layers.append(_spatial_layer(pick, f"s{index}", shape, _neuron(pick)))
            shape = layers[-1].output_shape(shape)
    for index in range(pick.integer(0, 2)):
        layers.append(_linear(pick, f"h{index}", shape, pick.integer(1, 6), _neuron(pick)))
        shape = layers[-1].output_shape(shape)
    acc_bits = pick.integer(8, 32)
    if len(shape) == 3 and pick.integer(0, 3) == 0:
        layers.append(_spatial_layer(pick, "out", shape, None, acc_bits))
    else:
        layers.append(_linear(pick, "out", shape, pick.integer(2, 5), None, acc_bits))
    meta = {"generator": "tests/netgen.py"} if pick.integer(0, 4) == 0 else {}
    return Network(pick.integer(1, 5), spec, tuple(layers), meta)


def make_inputs(pick, network: Network, count: int) -> np.ndarray:
    """``count`` images in the input range: uniform, all-max, all-min or sparse."""
    spec = network.input
    lo, hi = (-(2 ** (spec.bits - 1)), 2 ** (spec.bits - 1) - 1) if spec.signed else (0, 2**spec.bits - 1)
    shape = (count, *spec.shape)
    mode = pick.integer(0, 3)
    if mode == 1:
        return np.full(shape, hi, dtype=np.int64)
    if mode == 2:
        return np.full(shape, lo, dtype=np.int64)
    x = pick.array(lo, hi, shape)
    if mode == 3:
        x = x * (pick.array(0, 3, shape) == 0)
    return x


def random_network(seed: int) -> Network:
    """A random valid network, reproducible from ``seed``."""
    return build(SeedPicker(seed))


def random_inputs(network: Network, seed: int, count: int = 3) -> np.ndarray:
    """``count`` random images for ``network``, reproducible from ``seed``."""
    return make_inputs(SeedPicker(seed), network, count)


@st.composite
def networks(draw) -> Network:
    """Hypothesis strategy of random tiny valid networks."""
    return build(DrawPicker(draw))


def inputs(network: Network, max_count: int = 3):
    """Hypothesis strategy of ``[N, *input.shape]`` int64 images for ``network``."""

    @st.composite
    def strategy(draw):
        pick = DrawPicker(draw)
        return make_inputs(pick, network, pick.integer(1, max_count))

    return strategy()


@st.composite
def networks_and_inputs(draw, max_count: int = 3):
    """Hypothesis strategy of ``(network, images)`` pairs."""
    network = draw(networks())
    return network, draw(inputs(network, max_count))
