"""The network IR: ``hwgen-snn/1`` as frozen, typed, validated data.

A :class:`Network` is exactly what SPEC.md §1 describes: an input spec, the
number of timesteps and an ordered chain of layers holding integer arrays.
:func:`load` and :meth:`Network.save` read and write the folder format
(``network.json`` + ``weights.npz``); :func:`validate` checks every rule and
raises :class:`~hwgen.errors.NetworkError` naming the layer and the field.

Extensions beyond SPEC.md (optional fields; absent means the SPEC default):
``sumpool2d.padding`` (default ``[0, 0]``) and a free-form top-level ``meta``
object that readers ignore.
"""
from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
import os
from typing import Any

import numpy as np

from .errors import NetworkError
from .fixedpoint import MAX_WIDTH, MIN_WIDTH, signed_range, storage_dtype

FORMAT = "hwgen-snn/1"


class Op(str, enum.Enum):
    """Layer operations of ``hwgen-snn/1``."""

    CONV2D = "conv2d"
    SUMPOOL2D = "sumpool2d"
    LINEAR = "linear"


@dataclass(frozen=True)
class Neuron:
    """IF neuron with reset by subtraction and a burst cap (SPEC §2)."""

    threshold: int
    v_init: int
    burst: int
    v_bits: int


@dataclass(frozen=True)
class InputSpec:
    """Shape ``(C, H, W)`` or ``(F,)`` of one input image and its word width."""

    shape: tuple[int, ...]
    bits: int = 8
    signed: bool = False


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer of the chain.

    Attributes
    ----------
    name : str
        Unique layer name.
    op : Op
        ``conv2d``, ``sumpool2d`` or ``linear``.
    weight, bias : ndarray of int64 or None
        ``[out, in, kh, kw]`` / ``[out, in]`` and ``[out]``; pools have none.
    stride, padding, kernel : tuple of int
        Conv and pool geometry (zero padding).
    neuron : Neuron or None
        Spiking layers have one; the final accumulate-only layer has none.
    acc_bits : int or None
        Accumulator width of the final layer.
    weight_key, bias_key : str or None
        Array names in ``weights.npz``.
    """

    name: str
    op: Op
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    kernel: tuple[int, int] | None = None
    neuron: Neuron | None = None
    acc_bits: int | None = None
    weight_key: str | None = None
    bias_key: str | None = None

    @property
    def has_weights(self) -> bool:
        return self.op is not Op.SUMPOOL2D

    @property
    def is_output(self) -> bool:
        return self.has_weights and self.neuron is None

    @property
    def window(self) -> tuple[int, int]:
        """The spatial window of a conv or pool."""
        if self.op is Op.CONV2D:
            return tuple(self.weight.shape[2:])
        return self.kernel

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of this layer's output for an input of ``in_shape``."""
        if self.op is Op.LINEAR:
            return (self.weight.shape[0],)
        channels = self.weight.shape[0] if self.op is Op.CONV2D else in_shape[0]
        spatial = tuple(
            (size + 2 * pad - win) // step + 1
            for size, pad, win, step in zip(in_shape[1:], self.padding, self.window, self.stride)
        )
        return (channels, *spatial)


@dataclass(frozen=True, eq=False)
class Network:
    """A validated ``hwgen-snn/1`` network."""

    timesteps: int
    input: InputSpec
    layers: tuple[Layer, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        validate(self)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Input shape followed by every layer's output shape."""
        shapes = [self.input.shape]
        for layer in self.layers:
            shapes.append(layer.output_shape(shapes[-1]))
        return shapes

    @property
    def classes(self) -> int:
        return math.prod(self.shapes[-1])

    def replace(self, **changes) -> "Network":
        """A copy with fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        from .netfile import network_to_json

        return network_to_json(self)

    def save(self, folder: "str | os.PathLike"):
        """Write ``network.json`` and ``weights.npz`` into ``folder``."""
        from .netfile import save

        return save(self, folder)


def _fail(where: str, message: str):
    raise NetworkError(f"{where}: {message}")


def _where(index: int, layer: Layer) -> str:
    return f"layer '{layer.name}' (#{index})"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_width(where: str, name: str, bits) -> None:
    if bits is None:
        _fail(where, f"field '{name}' is missing")
    if not _is_int(bits) or not MIN_WIDTH <= bits <= MAX_WIDTH:
        _fail(where, f"{name} must be an integer in [{MIN_WIDTH}, {MAX_WIDTH}], got {bits!r}")


def _check_neuron(where: str, neuron: Neuron) -> None:
    for name in ("threshold", "v_init", "burst", "v_bits"):
        if not _is_int(getattr(neuron, name)):
            _fail(where, f"neuron.{name} must be an integer, got {getattr(neuron, name)!r}")
    if neuron.threshold <= 0:
        _fail(where, f"neuron.threshold must be > 0, got {neuron.threshold}")
    if neuron.burst < 1:
        _fail(where, f"neuron.burst must be >= 1, got {neuron.burst}")
    _check_width(where, "neuron.v_bits", neuron.v_bits)
    lo, hi = signed_range(neuron.v_bits)
    if not lo <= neuron.v_init <= hi:
        _fail(where, f"neuron.v_init {neuron.v_init} does not fit in v_bits={neuron.v_bits}")
    if neuron.threshold > hi:
        _fail(where, f"neuron.threshold {neuron.threshold} does not fit in v_bits={neuron.v_bits}")


def _check_array(where: str, name: str, array, shape: tuple[int, ...]) -> None:
    if not isinstance(array, np.ndarray):
        _fail(where, f"{name} is missing")
    if array.dtype.kind not in "iu":
        _fail(where, f"{name} must have an integer dtype, got {array.dtype}")
    if array.shape != shape:
        _fail(where, f"{name} must have shape {list(shape)}, got {list(array.shape)}")
    if array.size == 0:
        _fail(where, f"{name} is empty (shape {list(array.shape)})")
    try:
        storage_dtype(array)
    except ValueError as err:
        _fail(where, f"{name}: {err}")


def _check_geometry(where: str, layer: Layer, in_shape: tuple[int, ...]) -> None:
    if len(in_shape) != 3:
        _fail(where, f"{layer.op.value} needs a [C, H, W] input, got {list(in_shape)}")
    for name in ("stride", "padding") + (("kernel",) if layer.op is Op.SUMPOOL2D else ()):
        value = getattr(layer, name)
        least = 0 if name == "padding" else 1
        if (not isinstance(value, tuple) or len(value) != 2
                or not all(_is_int(v) and v >= least for v in value)):
            _fail(where, f"{name} must be two integers >= {least}, got {value!r}")
    if any(size < 1 for size in layer.output_shape(in_shape)[1:]):
        _fail(where, f"window {list(layer.window)} does not fit input {list(in_shape)}")


def _check_weights(where: str, layer: Layer, in_shape: tuple[int, ...]) -> None:
    weight = layer.weight
    if not isinstance(weight, np.ndarray):
        _fail(where, "weight is missing")
    if layer.op is Op.CONV2D:
        expected_in = (in_shape[0],) if len(in_shape) == 3 else None
        if weight.ndim != 4:
            _fail(where, f"weight must be [out_ch, in_ch, kh, kw], got shape {list(weight.shape)}")
        _check_geometry(where, layer, in_shape)
        _check_array(where, "weight", weight, (weight.shape[0], *expected_in, *weight.shape[2:]))
    else:
        if weight.ndim != 2:
            _fail(where, f"weight must be [out, in], got shape {list(weight.shape)}")
        _check_array(where, "weight", weight, (weight.shape[0], math.prod(in_shape)))
    if layer.bias is not None:
        _check_array(where, "bias", layer.bias, (weight.shape[0],))


def validate(network: Network) -> None:
    """Check every SPEC rule; raise :class:`NetworkError` on the first break."""
    if not _is_int(network.timesteps) or network.timesteps < 1:
        _fail("network", f"timesteps must be an integer >= 1, got {network.timesteps!r}")
    spec = network.input
    if not spec.shape or not all(_is_int(s) and s >= 1 for s in spec.shape) \
            or len(spec.shape) not in (1, 3):
        _fail("input", f"shape must be [C, H, W] or [F] of positive integers, got {spec.shape!r}")
    if not _is_int(spec.bits) or not 1 <= spec.bits <= 16:
        _fail("input", f"bits must be an integer in [1, 16], got {spec.bits!r}")
    if not network.layers:
        _fail("network", "layers is empty")
    names = set()
    shape = spec.shape
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        where = _where(index, layer)
        if layer.name in names:
            _fail(where, "name is used by an earlier layer")
        names.add(layer.name)
        if layer.op is Op.SUMPOOL2D:
            if index == last:
                _fail(where, "the last layer must be conv2d or linear with neuron null")
            _check_geometry(where, layer, shape)
        else:
            _check_weights(where, layer, shape)
            if layer.neuron is None:
                if index != last:
                    _fail(where, "neuron is null but only the last layer may be non-spiking")
                _check_width(where, "acc_bits", layer.acc_bits)
            else:
                if index == last:
                    _fail(where, "the last layer must be non-spiking (neuron null, acc_bits)")
                _check_neuron(where, layer.neuron)
        shape = layer.output_shape(shape)
