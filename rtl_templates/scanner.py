"""The event scanner: compacts a buffer's non-zero values into the event list.

Event mode runs one SCAN pass before each weighted layer (except the cached
first layer). For every input position ``pos = y W + x`` (row-major) and every
channel group ``cd < ceil(C/P)``, one read fetches the ``P`` channels
``c = cd P + lane`` of that position from the ``P`` banks at once; a priority
encoder then writes one non-zero ``(index, value)`` a cycle into the list
(``index`` = ``c``, or the flat input index ``c H W + pos`` for a ``linear``
consumer). The next read is issued in the cycle that emits a group's last
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
    scans : dict of int -> (C, H, W, flat)
        The input geometry of each SCAN pass, by pass index.

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
            "pass_index": In(addr_bits), "begin": In(1), "active": In(1),
            "rd_addr": Out(addr_bits), "rd_data": In(signed(value_bits)).array(lanes), "end": Out(1),
            "list_addr": Out(addr_bits), "list_data": Out(index_bits + value_bits), "list_en": Out(1),
            "off_addr": Out(addr_bits), "off_data": Out(2 * addr_bits), "off_en": Out(1),
        })

    def elaborate(self, platform):
        m, P, ab = Module(), self.lanes, self.abits
        pos, cd = Signal(ab), Signal(ab)                 # the group held (or being read)
        loaded = Signal()                                # rd_data is the group at (pos, cd), fresh
        mask_reg = Signal(P)
        vals = [Signal(signed(self.vb), name=f"val{i}") for i in range(P)]
        wp, pstart = Signal(ab), Signal(ab)
        n_c, hw, n_g, flat = Signal(ab), Signal(ab), Signal(ab), Signal()
        with m.Switch(self.pass_index):
            for index, (c, h, w, is_flat) in self.scans.items():
                with m.Case(index):
                    m.d.comb += [n_c.eq(c), hw.eq(h * w), n_g.eq(-(-c // P)), flat.eq(is_flat)]
        # The group in hand: fresh from the banks, or what is left of it.
        mask, cur = Signal(P), [Signal(signed(self.vb), name=f"cur{i}") for i in range(P)]
        for lane in range(P):
            fresh = (self.rd_data[lane] != 0) & (cd * P + lane < n_c)
            m.d.comb += [mask[lane].eq(Mux(loaded, fresh, mask_reg[lane])),
                         cur[lane].eq(Mux(loaded, self.rd_data[lane], vals[lane]))]
        lane_sel = Signal(range(P))
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
        c = cd * P + lane_sel
        m.d.comb += [self.list_addr.eq(wp), self.list_en.eq(emit),
                     self.list_data.eq(Cat(value, Mux(flat, c * hw + pos, c)[:self.ibits])), self.end.eq(final)]
        with m.If(group_done & last_group & ~flat):
            m.d.comb += [self.off_addr.eq(pos), self.off_data.eq(Cat(pstart, (wp_new - pstart)[:ab])),
                         self.off_en.eq(1)]
        with m.If(final & flat):
            m.d.comb += [self.off_addr.eq(0), self.off_data.eq(Cat(Const(0, ab), wp_new)), self.off_en.eq(1)]
        # Next group to read: (pos, cd) advances when the one in hand is done.
        nxt_cd = Mux(last_group, 0, cd + 1)
        nxt_pos = Mux(last_group, pos + 1, pos)
        m.d.comb += self.rd_addr.eq(Mux(self.begin, 0, Mux(group_done, nxt_cd * hw + nxt_pos, cd * hw + pos)))
        with m.If(self.begin):
            m.d.sync += [pos.eq(0), cd.eq(0), loaded.eq(1), wp.eq(0), pstart.eq(0)]
        with m.Elif(self.active):
            m.d.sync += [wp.eq(wp_new), mask_reg.eq(rest), loaded.eq(group_done)]
            m.d.sync += [v.eq(x) for v, x in zip(vals, cur)]
            with m.If(group_done):
                m.d.sync += [cd.eq(nxt_cd), pos.eq(nxt_pos)]
                with m.If(last_group):
                    m.d.sync += pstart.eq(wp_new)
        return m
