"""The accelerator's input loader, the spike buffers' ports and the logit reader.

The loader and the reader use running addresses (no multiplier) and
registered data paths, so they never limit the clock.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib.memory import Memory

from hwgen.hwconfig import BufferRam


def index_bits(n: int) -> int:
    """Bits of an index into ``n`` items (at least 1)."""
    return max(1, int(n - 1).bit_length())


def loader(m, accel, plan):
    """Input stream -> buffer 0 (at ``plan.buffer_base[0]``), C order, bank ``c mod P``.

    Returns
    -------
    beat, addr, bank : Signal
        A word is written this cycle, at ``addr`` of bank ``bank``.
    """
    P = plan.lanes
    c, h, w = plan.tensors[0].shape
    hw = h * w
    lpos, lc, lb = Signal(range(hw), name="ld_pos"), Signal(range(c), name="ld_c"), Signal(range(P), name="ld_bank")
    start = plan.buffer_base[0]
    width = index_bits(sum(plan.buffer_depth))
    addr, base = Signal(width, name="ld_addr", init=start), Signal(width, name="ld_base", init=start)
    beat = Signal(name="ld_beat")
    m.d.comb += [accel.pixels.ready.eq(~accel.busy), beat.eq(accel.pixels.valid & accel.pixels.ready)]
    with m.If(accel.start & ~accel.busy):
        m.d.sync += [lpos.eq(0), lc.eq(0), lb.eq(0), base.eq(start), addr.eq(start)]
    with m.Elif(beat):
        with m.If(lpos == hw - 1):
            m.d.sync += lpos.eq(0)
            with m.If(lc == c - 1):
                m.d.sync += [lc.eq(0), lb.eq(0), base.eq(start), addr.eq(start)]
            with m.Elif(lb == P - 1):
                m.d.sync += [lc.eq(lc + 1), lb.eq(0), base.eq(base + hw), addr.eq(base + hw)]
            with m.Else():
                m.d.sync += [lc.eq(lc + 1), lb.eq(lb + 1), addr.eq(base)]
        with m.Else():
            m.d.sync += [lpos.eq(lpos + 1), addr.eq(addr + 1)]
    return beat, addr, lb


def logit_reader(m, accel, plan, lanes, start, active):
    """Stream the output accumulators (C order) from the lanes' membrane RAM.

    ``start`` (the cycle before ``active``) resets the counters. While
    ``active``, each logit takes ``ext_latency + 3`` phases: the address
    steps, the RAM reads (a cycle later behind a single port's register),
    the lane registers the pieces' words, then the selected piece's word
    (``NeuronLane.mem_data``, ``ext_latency`` cycles after the address), the
    selected lane's word is registered, then ``valid`` until taken
    (``ready`` only clears ``valid``, so it meets no logic here). Returns
    the "last logit taken" condition.
    """
    P = plan.lanes
    oc, oh, ow = plan.out_shape
    ohow = oh * ow
    i_c, i_pos, i_b = Signal(range(oc), name="lo_c"), Signal(range(ohow), name="lo_pos"), Signal(range(P),
                                                                                                 name="lo_b")
    ext, gbase = Signal(index_bits(plan.mem_depth), name="lo_addr"), Signal(index_bits(plan.mem_depth), name="lo_base")
    sample = 1 + lanes[0].ext_latency          # the phase mem_data holds the word at ext
    phase, first, last = Signal(range(sample + 2), name="lo_phase"), Signal(name="lo_first"), Signal(name="lo_last")
    data, valid = Signal(signed(plan.mem_bits), name="lo_data"), accel.logits.valid
    done = Signal(name="lo_done")
    m.d.comb += [accel.logits.payload.eq(data), done.eq(valid & accel.logits.ready & last)]
    sums = _sums(m, ext, gbase, ohow)
    for lane in lanes:
        m.d.comb += [lane.ext_en.eq(active), lane.ext_addr.eq(ext)]
    with m.If(start):
        m.d.sync += [i_c.eq(0), i_pos.eq(0), i_b.eq(0), ext.eq(plan.out_nbase), gbase.eq(plan.out_nbase),
                     phase.eq(0), first.eq(1), last.eq(oc * ohow == 1)]
    with m.Elif(active):
        with m.If(phase != sample + 1):
            m.d.sync += phase.eq(phase + 1)
        with m.If(phase == 0):
            m.d.sync += first.eq(0)
            with m.If(~first):
                _step(m, (i_c, i_pos, i_b, ext, gbase, last, *sums), P, ohow, oc)
        with m.If(phase == sample):
            m.d.sync += valid.eq(1)
            with m.Switch(i_b):
                for b, lane in enumerate(lanes):
                    with m.Case(b):
                        m.d.sync += data.eq(lane.mem_data)
        with m.If(valid & accel.logits.ready):
            m.d.sync += [phase.eq(0), valid.eq(0)]
    return done


def _step(m, regs, P, ohow, oc):
    """Advance the reader to the next logit (C order: bank ``c mod P``, group ``c // P``).
    ``ext + 1`` and ``gbase + ohow`` come from registers (:func:`_sums`)."""
    i_c, i_pos, i_b, ext, gbase, last, ext_inc, gbase_next = regs
    with m.If(i_pos == ohow - 1):
        m.d.sync += [i_pos.eq(0), i_c.eq(i_c + 1), last.eq((i_c == oc - 2) & (ohow == 1))]
        with m.If(i_b == P - 1):
            m.d.sync += [i_b.eq(0), gbase.eq(gbase_next), ext.eq(gbase_next)]
        with m.Else():
            m.d.sync += [i_b.eq(i_b + 1), ext.eq(gbase)]
    with m.Else():
        m.d.sync += [i_pos.eq(i_pos + 1), ext.eq(ext_inc), last.eq((i_c == oc - 1) & (i_pos == ohow - 2))]


def _sums(m, ext, gbase, ohow):
    """``ext + 1`` and ``gbase + ohow`` in registers, a cycle behind (the reader steps once in
    six cycles, so they are current at every step; the step's multiplexer then meets no adder)."""
    ext_inc, gbase_next = Signal.like(ext, name="lo_addr_inc"), Signal.like(gbase, name="lo_base_next")
    m.d.sync += [ext_inc.eq(ext + 1), gbase_next.eq(gbase + ohow)]
    return ext_inc, gbase_next


def buffer_writes(m, accel, plan, lanes, banks, oaddr, has_dst):
    """The spike-buffer banks' write ports: the loader's words (while not busy), else each
    lane's fired value at the write-back address ``oaddr`` (a pass with a destination).

    With LUT-RAM buffers, whose write enables decode the address in logic, the loader's
    write is registered (a cycle after its beat, before any lane writes), off the stream
    handshake."""
    P = plan.lanes
    beat, laddr, lbank = loader(m, accel, plan)
    lwrite, lwaddr, lwdata = beat, laddr, accel.pixels.payload
    lwen = [lbank == b for b in range(P)]
    if plan.config.buffers is BufferRam.DISTRIBUTED:
        lwrite, lwaddr = Signal(name="ld_write"), Signal.like(laddr, name="ld_waddr")
        lwdata, lwen = Signal.like(accel.pixels.payload, name="ld_wdata"), [Signal(name=f"ld_wen{b}") for b in range(P)]
        m.d.sync += [lwrite.eq(beat), lwaddr.eq(laddr), lwdata.eq(accel.pixels.payload)]
        m.d.sync += [en.eq(beat & (lbank == b)) for b, en in enumerate(lwen)]
    for lane, (_, wr), en in zip(lanes, banks, lwen):
        m.d.comb += [wr.addr.eq(Mux(lwrite, lwaddr, oaddr)), wr.data.eq(Mux(lwrite, lwdata, lane.out_value)),
                     wr.en.eq(Mux(lwrite, en, lane.out_valid & has_dst))]
