"""Typed conversion options, validated at the edge.

Every option is checked once, here, and a bad value raises a
:class:`~hwgen.errors.ConversionError` that names the option (the field).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from ..errors import ConversionError
from ..fixedpoint import MAX_WIDTH, MIN_WIDTH


class VInit(str, enum.Enum):
    """Initial membrane: ``θ // 2`` (QCFS shift φ = 1/2) or 0 (classic)."""

    HALF = "half"
    ZERO = "zero"


class BiasCalibration(str, enum.Enum):
    """SNN bias calibration (:mod:`hwgen.convert.biascal`): off, Li et al.'s mean, or least squares."""

    NONE = "none"
    MEAN = "mean"
    MSE = "mse"


class Norm(str, enum.Enum):
    """How a plain ReLU's threshold λ is calibrated from data."""

    MAX = "max"
    PERCENTILE = "percentile"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _floats(value) -> tuple[float, ...] | None:
    """A scalar or sequence of numbers as a tuple of floats (None stays None)."""
    if value is None:
        return None
    try:
        if hasattr(value, "tolist"):
            value = value.tolist()
        values = tuple(float(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    except (TypeError, ValueError):
        return ()
    return values


@dataclass(frozen=True)
class ConvertConfig:
    """Every choice the converter makes, in one place.

    Parameters
    ----------
    timesteps : int
        ``T`` written to the network (widths are sized for it).
    weight_bits, input_bits : int
        Signed weight width (2..16); unsigned input pixel width (1..16).
    burst : int or tuple of int
        Burst cap Γ for every spiking layer, or one per spiking layer
        (a list is accepted and stored as a tuple).
    v_init : VInit
        ``"half"`` or ``"zero"`` are accepted and converted.
    norm : Norm
        For ReLU layers only; learned thresholds (QCFS λ, RNL θ) are used as they are.
    percentile : float
        p for :attr:`Norm.PERCENTILE` (0 < p <= 100).
    input_mean, input_std : tuple of float or None
        Input normalisation ``(x - mean)/std`` the model expects on inputs in
        [0, 1], one value or one per channel; folded into the first layer.
        ``std`` must be > 0.
    v_bits, acc_bits : int or None
        Force widths; None sizes them from worst-case bounds (never saturates).
    bias_calibration : BiasCalibration
        ``"none"`` (default), ``"mean"`` or ``"mse"``: per-channel bias offsets
        fitted on the calibration images so that each spiking layer's
        ``T``-step firing rates match the ANN's activations
        (:mod:`hwgen.convert.biascal`).
    """

    timesteps: int
    weight_bits: int = 8
    input_bits: int = 8
    burst: int | tuple[int, ...] = 1
    v_init: VInit = VInit.HALF
    norm: Norm = Norm.PERCENTILE
    percentile: float = 99.99
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None
    v_bits: int | None = None
    acc_bits: int | None = None
    bias_calibration: BiasCalibration = BiasCalibration.NONE

    def __post_init__(self):
        def fail(name, want):
            raise ConversionError(f"option {name}: must be {want}, got {getattr(self, name)!r}")

        def check(name, ok, want):
            if not ok:
                fail(name, want)

        check("timesteps", _is_int(self.timesteps) and self.timesteps >= 1, "an integer >= 1")
        check("weight_bits", _is_int(self.weight_bits) and 2 <= self.weight_bits <= 16, "an integer in [2, 16]")
        check("input_bits", _is_int(self.input_bits) and 1 <= self.input_bits <= 16, "an integer in [1, 16]")
        if isinstance(self.burst, list):
            object.__setattr__(self, "burst", tuple(self.burst))
        bursts = self.burst if isinstance(self.burst, tuple) else (self.burst,)
        check("burst", bool(bursts) and all(_is_int(b) and b >= 1 for b in bursts),
              "an integer >= 1 or a list of them")
        number = isinstance(self.percentile, (int, float)) and not isinstance(self.percentile, bool)
        check("percentile", number and 0 < self.percentile <= 100, "a number in (0, 100]")
        for name, kind in (("v_init", VInit), ("norm", Norm), ("bias_calibration", BiasCalibration)):
            try:
                object.__setattr__(self, name, kind(getattr(self, name)))
            except ValueError:
                fail(name, "one of " + ", ".join(repr(k.value) for k in kind))
        for name in ("v_bits", "acc_bits"):
            value = getattr(self, name)
            check(name, value is None or (_is_int(value) and MIN_WIDTH <= value <= MAX_WIDTH),
                  f"None or an integer in [{MIN_WIDTH}, {MAX_WIDTH}]")
        for name, positive in (("input_mean", False), ("input_std", True)):
            raw = getattr(self, name)
            values = _floats(raw)
            if values is not None:
                ok = bool(values) and all(math.isfinite(v) and (v > 0 or not positive) for v in values)
                check(name, ok, "a finite number or list of numbers" + (" > 0" if positive else ""))
            object.__setattr__(self, name, values)

    def bursts(self, spiking_layers: list[str]) -> dict[str, int]:
        """Γ per spiking layer name."""
        if isinstance(self.burst, int):
            return {name: self.burst for name in spiking_layers}
        if len(self.burst) != len(spiking_layers):
            raise ConversionError(f"option burst: got {len(self.burst)} values for "
                                  f"{len(spiking_layers)} spiking layers ({', '.join(spiking_layers)})")
        return dict(zip(spiking_layers, self.burst))
