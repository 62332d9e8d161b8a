"""The fire unit: burst IF firing with reset by subtraction, pipelined.

.. math:: k = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma),
          \\qquad V' = V - k\\theta

(the rule of :func:`hwgen.fixedpoint.fire`). It is a chain of
:math:`\\Gamma_{max}` compare-subtract stages of two cycles each: stage :math:`j`
subtracts :math:`\\theta` (registering the difference and its sign), then keeps
the difference and counts a spike when :math:`j < \\Gamma` and
:math:`V \\ge \\theta` (the carry chain and the select's fan-out to every
bit of :math:`V` are a cycle each: on the iCE40 the two together were the
critical path, 24 ns). A negative :math:`V` never passes a stage, so it
emits nothing, which is exactly ``floor`` toward minus infinity clamped at 0.

The subtraction is only as wide as a firing value needs (``sub_bits``: a
spiking layer's saturated :math:`V` and its :math:`\\theta`), though values
of ``width`` bits pass through (the output layer's accumulators, with
:math:`\\Gamma = 0`); :math:`\\theta` and :math:`\\Gamma` are copied into
registers of the unit, so the carry chain starts next to it.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
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
        """Cycles from ``v_in`` to ``v_out``: :math:`2 \\max(1, \\Gamma_{max})`."""
        return self.latency_for(self.max_burst)

    @staticmethod
    def latency_for(max_burst: int) -> int:
        """:attr:`latency` of a unit of ``max_burst`` stages."""
        return 2 * max(1, max_burst)

    def elaborate(self, platform):
        m = Module()
        valid, v, k = self.valid_in, self.v_in, 0
        threshold, burst = Signal(signed(self.sub_bits), name="theta"), Signal.like(self.burst, name="gamma")
        m.d.sync += [threshold.eq(self.threshold), burst.eq(self.burst)]
        for j in range(max(1, self.max_burst)):
            # cycle 1: the difference and whether this stage fires
            dv, dval = Signal(signed(self.width), name=f"s{j}_v"), Signal(name=f"s{j}_valid")
            dk = Signal(range(self.max_burst + 1), name=f"s{j}_k")
            diff_now, diff = Signal(signed(self.sub_bits + 1)), Signal(signed(self.sub_bits + 1), name=f"d{j}")
            fires = Signal(name=f"f{j}")
            m.d.comb += diff_now.eq(v[:self.sub_bits].as_signed() - threshold)
            m.d.sync += [dval.eq(valid), dv.eq(v), dk.eq(k), diff.eq(diff_now),
                         fires.eq((burst > j) & ~diff_now[-1])]       # V >= theta from the sign
            # cycle 2: keep the difference where it fired
            nv = Signal(name=f"valid{j}")
            nvv = Signal(signed(self.width), name=f"v{j}")
            nk = Signal(range(self.max_burst + 1), name=f"k{j}")
            m.d.sync += [nv.eq(dval), nvv.eq(Mux(fires, diff, dv)), nk.eq(dk + fires)]
            valid, v, k = nv, nvv, nk
        m.d.comb += [self.valid_out.eq(valid), self.v_out.eq(v), self.k_out.eq(k)]
        return m
