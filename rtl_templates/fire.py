"""The fire unit: burst IF firing with reset by subtraction, pipelined.

.. math:: k = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma),
          \\qquad V' = V - k\\theta

(the rule of :func:`hwgen.fixedpoint.fire`). It is a chain of
:math:`\\Gamma_{max}` compare-subtract stages, one a cycle: stage :math:`j`
subtracts :math:`\\theta` and counts a spike when :math:`j < \\Gamma` and
:math:`V \\ge \\theta`. A negative :math:`V` never passes a stage, so it
emits nothing, which is exactly ``floor`` toward minus infinity clamped at 0.

The subtraction is only as wide as a firing value needs (``sub_bits``: a
spiking layer's saturated :math:`V` and its :math:`\\theta`), though values
of ``width`` bits pass through (the output layer's accumulators, with
:math:`\\Gamma = 0`); :math:`\\theta` and :math:`\\Gamma` are copied into
registers of the unit, so the carry chain starts next to it.
"""
from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class FireUnit(wiring.Component):
    """Pipelined burst fire unit.

    Parameters
    ----------
    width : int
        Signed width of the membrane value :math:`V`.
    max_burst : int
        :math:`\\Gamma_{max}`, the number of stages (at least one is built).
    sub_bits : int, optional
        Signed width of :math:`V` and :math:`\\theta` whenever :math:`\\Gamma > 0`
        (default ``width``).

    Members
    -------
    valid_in, v_in : In
        A membrane value to fire, accepted every cycle.
    threshold, burst : In
        :math:`\\theta > 0` and :math:`\\Gamma \\le \\Gamma_{max}` (0: never fire);
        held constant from the cycle before the first value until the last leaves.
    valid_out, v_out, k_out : Out
        ``latency`` cycles after the input: :math:`V'` and :math:`k`.
    """

    def __init__(self, width: int, max_burst: int, sub_bits: int | None = None):
        if width < 2:
            raise ValueError(f"width must be >= 2, got {width}")
        if max_burst < 0:
            raise ValueError(f"max_burst must be >= 0, got {max_burst}")
        self.width, self.max_burst = width, max_burst
        self.sub_bits = width if sub_bits is None else max(2, min(width, sub_bits))
        super().__init__({
            "valid_in": In(1), "v_in": In(signed(width)),
            "threshold": In(signed(width)), "burst": In(range(max_burst + 1)),
            "valid_out": Out(1), "v_out": Out(signed(width)), "k_out": Out(range(max_burst + 1)),
        })

    @property
    def latency(self) -> int:
        """Cycles from ``v_in`` to ``v_out``: :math:`\\max(1, \\Gamma_{max})`."""
        return max(1, self.max_burst)

    def elaborate(self, platform):
        m = Module()
        valid, v, k = self.valid_in, self.v_in, 0
        threshold, burst = Signal(signed(self.sub_bits), name="theta"), Signal.like(self.burst, name="gamma")
        m.d.sync += [threshold.eq(self.threshold), burst.eq(self.burst)]
        for j in range(self.latency):
            nv = Signal(name=f"valid{j}")
            nvv = Signal(signed(self.width), name=f"v{j}")
            nk = Signal(range(self.max_burst + 1), name=f"k{j}")
            diff = Signal(signed(self.sub_bits + 1), name=f"d{j}")
            m.d.comb += diff.eq(v[:self.sub_bits].as_signed() - threshold)
            fires = (burst > j) & ~diff[-1]              # V >= theta from the subtraction's sign
            m.d.sync += [nv.eq(valid), nvv.eq(v), nk.eq(k)]
            with m.If(fires):
                m.d.sync += [nvv.eq(diff), nk.eq(k + 1)]
            valid, v, k = nv, nvv, nk
        m.d.comb += [self.valid_out.eq(valid), self.v_out.eq(v), self.k_out.eq(k)]
        return m
