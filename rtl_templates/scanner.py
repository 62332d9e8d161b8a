"""The event scanner: compacts a buffer's non-zero values into the event list.

Event mode runs one SCAN pass before each weighted layer (except the cached
first layer). For every input position ``pos = y W + x`` (row-major) and every
channel group ``cd < ceil(C/P)``, one read fetches the ``P`` channels
``c = cd P + lane`` of that position from the ``P`` banks at once; a priority
encoder then writes one non-zero ``(index, value)`` a cycle into the list
(``index`` = ``c k_h k_w``, the channel's weight offset in the consumer's
row, or the flat input index ``c H W + pos`` for a ``linear`` consumer).
Addresses and indices are running sums (no multiplier). The next read is issued in the cycle that emits a group's last
event, so a group costs exactly

.. math:: \\max(1, n_{cd, pos})

cycles (:math:`n` its non-zero channels), plus one cycle in ``BEGIN`` for the
first read. When a position's last group is done its ``(start, length)`` goes
to the offsets RAM (a ``linear`` consumer gets one entry, at index 0).
"""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class Scanner(wiring.Component):
    """Event-list builder for the SCAN passes (see the module docstring).

    Parameters
    ----------
    lanes : int
        :math:`P`, banks read at once.
    value_bits, addr_bits, index_bits : int
        Widths of values, addresses/lengths and event indices.
    scans : dict of int -> (C, H, W, flat[, kk[, base]])
        The input geometry of each SCAN pass, by pass index: ``kk`` the
        consumer's kernel taps (default 1), ``base`` the source buffer's
        word offset in the banks (default 0).

    Members
    -------
    pass_index, begin, active : In
        The running pass, its BEGIN cycle, its ISSUE cycles.
    rd_addr : Out
        Address presented to every bank of the source buffer.
    rd_data : In(P values)
        The banks' data (one cycle after ``rd_addr``).
    end : Out(1)
        This ISSUE cycle is the pass's last.
    list_addr, list_data, list_en, off_addr, off_data, off_en : Out
        Write ports of the event list and the offsets RAM.
    """

    def __init__(self, *, lanes, value_bits, addr_bits, index_bits, scans: dict):
        self.lanes, self.vb, self.abits, self.ibits, self.scans = lanes, value_bits, addr_bits, index_bits, scans
        super().__init__({
            "pass_index": In(range(max(scans, default=0) + 1)), "begin": In(1), "active": In(1),
            "rd_addr": Out(addr_bits), "rd_data": In(signed(value_bits)).array(lanes), "end": Out(1),
            "list_addr": Out(addr_bits), "list_data": Out(index_bits + value_bits), "list_en": Out(1),
            "off_addr": Out(addr_bits), "off_data": Out(2 * addr_bits), "off_en": Out(1),
        })

    def elaborate(self, platform):
        m, P, ab, ib = Module(), self.lanes, self.abits, self.ibits
        pos, cd = Signal(ab), Signal(ab)                 # the group held (or being read)
        raddr, pbase = Signal(ab), Signal(ab)            # base + cd HW + pos, base + pos
        ibase, ipos = Signal(ib), Signal(ib)             # index of lane 0, flat ? pos : 0
        cmax = max([c for c, *_ in self.scans.values()] + [1])
        rc = Signal(signed((cmax + P).bit_length() + 1))  # channels from cd P on
        loaded = Signal()                                # rd_data is the group at (pos, cd), fresh
        mask_reg = Signal(P)
        vals = [Signal(signed(self.vb), name=f"val{i}") for i in range(P)]
        wp, pstart = Signal(ab), Signal(ab)
        n_c, hw, n_g, flat, base, pmult = Signal(ab), Signal(ab), Signal(ab), Signal(), Signal(ab), Signal(ib)
        lane_sel = Signal(range(P))
        lane_mult = Signal(ib)
        with m.Switch(self.pass_index):
            for index, (c, h, w, is_flat, *rest) in self.scans.items():
                kk, b = (rest[0] if rest else 1), (rest[1] if len(rest) > 1 else 0)
                mult = h * w if is_flat else kk
                with m.Case(index):
                    m.d.comb += [n_c.eq(c), hw.eq(h * w), n_g.eq(-(-c // P)), flat.eq(is_flat), base.eq(b),
                                 pmult.eq(P * mult)]
                    with m.Switch(lane_sel):
                        for lane in range(P):
                            with m.Case(lane):
                                m.d.comb += lane_mult.eq(lane * mult)
        # The group in hand: fresh from the banks, or what is left of it.
        mask, cur = Signal(P), [Signal(signed(self.vb), name=f"cur{i}") for i in range(P)]
        for lane in range(P):
            fresh = (self.rd_data[lane] != 0) & (rc > lane)
            m.d.comb += [mask[lane].eq(Mux(loaded, fresh, mask_reg[lane])),
                         cur[lane].eq(Mux(loaded, self.rd_data[lane], vals[lane]))]
        for lane in reversed(range(P)):
            with m.If(mask[lane]):
                m.d.comb += lane_sel.eq(lane)
        rest = Signal(P)
        m.d.comb += rest.eq(mask & (mask - 1))           # drop the lowest set bit
        emit = self.active & (mask != 0)
        group_done = self.active & (rest == 0)
        last_group = cd == n_g - 1
        final = group_done & last_group & (pos == hw - 1)
        wp_new = Signal(ab)
        m.d.comb += wp_new.eq(wp + emit)
        value = Signal(signed(self.vb))
        with m.Switch(lane_sel):
            for lane in range(P):
                with m.Case(lane):
                    m.d.comb += value.eq(cur[lane])
        m.d.comb += [self.list_addr.eq(wp), self.list_en.eq(emit),
                     self.list_data.eq(Cat(value, (ibase + lane_mult)[:ib])), self.end.eq(final)]
        with m.If(group_done & last_group & ~flat):
            m.d.comb += [self.off_addr.eq(pos), self.off_data.eq(Cat(pstart, (wp_new - pstart)[:ab])),
                         self.off_en.eq(1)]
        with m.If(final & flat):
            m.d.comb += [self.off_addr.eq(0), self.off_data.eq(Cat(Const(0, ab), wp_new)), self.off_en.eq(1)]
        # Next group to read: (pos, cd) advances when the one in hand is done.
        nxt_raddr = Mux(last_group, pbase + 1, raddr + hw)
        m.d.comb += self.rd_addr.eq(Mux(self.begin, base, Mux(group_done, nxt_raddr, raddr)))
        with m.If(self.begin):
            m.d.sync += [pos.eq(0), cd.eq(0), raddr.eq(base), pbase.eq(base), ibase.eq(0), ipos.eq(0),
                         rc.eq(n_c), loaded.eq(1), wp.eq(0), pstart.eq(0)]
        with m.Elif(self.active):
            m.d.sync += [wp.eq(wp_new), mask_reg.eq(rest), loaded.eq(group_done)]
            m.d.sync += [v.eq(x) for v, x in zip(vals, cur)]
            with m.If(group_done):
                m.d.sync += raddr.eq(nxt_raddr)
                with m.If(last_group):
                    m.d.sync += [cd.eq(0), pos.eq(pos + 1), pbase.eq(pbase + 1), rc.eq(n_c),
                                 ipos.eq(ipos + flat), ibase.eq(ipos + flat), pstart.eq(wp_new)]
                with m.Else():
                    m.d.sync += [cd.eq(cd + 1), rc.eq(rc - P), ibase.eq(ibase + pmult)]
        return m
