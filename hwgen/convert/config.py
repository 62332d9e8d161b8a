"""Typed conversion options, validated at the edge."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import ConversionError


class VInit(str, enum.Enum):
    """Initial membrane: ``θ // 2`` (QCFS shift φ = 1/2) or 0 (classic)."""

    HALF = "half"
    ZERO = "zero"


class Norm(str, enum.Enum):
    """How a plain ReLU's threshold λ is calibrated from data."""

    MAX = "max"
    PERCENTILE = "percentile"


@dataclass(frozen=True)
class ConvertConfig:
    """Every choice the converter makes, in one place.

    Parameters
    ----------
    timesteps : int
        ``T`` written to the network (widths are sized for it).
    weight_bits, input_bits : int
        Signed weight width; unsigned input pixel width.
    burst : int or tuple of int
        Burst cap Γ for every spiking layer, or one per spiking layer.
    v_init : VInit
    norm : Norm
        For ReLU layers only; learned thresholds (QCFS λ, RNL θ) are used as they are.
    percentile : float
        p for :attr:`Norm.PERCENTILE` (0 < p <= 100).
    v_bits, acc_bits : int or None
        Force widths; None sizes them from worst-case bounds (never saturates).
    """

    timesteps: int
    weight_bits: int = 8
    input_bits: int = 8
    burst: int | tuple[int, ...] = 1
    v_init: VInit = VInit.HALF
    norm: Norm = Norm.PERCENTILE
    percentile: float = 99.99
    v_bits: int | None = None
    acc_bits: int | None = None

    def __post_init__(self):
        def check(name, ok, want):
            if not ok:
                raise ConversionError(f"option {name}: must be {want}, got {getattr(self, name)!r}")
        check("timesteps", isinstance(self.timesteps, int) and self.timesteps >= 1, "an integer >= 1")
        check("weight_bits", isinstance(self.weight_bits, int) and 2 <= self.weight_bits <= 16, "in [2, 16]")
        check("input_bits", isinstance(self.input_bits, int) and 1 <= self.input_bits <= 16, "in [1, 16]")
        bursts = self.burst if isinstance(self.burst, tuple) else (self.burst,)
        check("burst", all(isinstance(b, int) and b >= 1 for b in bursts) and bursts, "integers >= 1")
        check("percentile", 0 < self.percentile <= 100, "in (0, 100]")
        object.__setattr__(self, "v_init", VInit(self.v_init))
        object.__setattr__(self, "norm", Norm(self.norm))

    def bursts(self, spiking_layers: list[str]) -> dict[str, int]:
        """Γ per spiking layer name."""
        if isinstance(self.burst, int):
            return {name: self.burst for name in spiking_layers}
        if len(self.burst) != len(spiking_layers):
            raise ConversionError(f"option burst: got {len(self.burst)} values for "
                                  f"{len(spiking_layers)} spiking layers ({', '.join(spiking_layers)})")
        return dict(zip(spiking_layers, self.burst))
