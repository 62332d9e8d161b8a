"""The accelerator top: loader, pass FSM, issuer, buffers, lanes, logit reader.

Built from a :class:`hwgen.hwplan.Plan`; ``docs/architecture.md`` describes
it and :mod:`hwgen.sim.cycles` counts its cycles.

Protocol
--------
* While not ``busy``, ``pixels`` accepts one input word a beat in C order
  (channel, row, column); a ``start`` resets the pixel counter.
* ``start`` (one cycle, while idle and after the previous logits were read)
  begins an inference; ``busy`` is high until ``done`` pulses for one cycle.
  ``cycles`` then holds the inference's cycle count: the clock edges from the
  one that samples ``start`` to the one that samples ``done``.
* After ``done``, ``logits`` streams the ``classes`` outputs, one a beat, in
  C order; then the accelerator is idle again.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwgen.hwconfig import Mode
from hwgen.hwplan import Kind, Plan

from .lane import NeuronLane
from .scanner import Scanner
from .walker import COUNTERS, init_state, walker_logic, walker_signals

#: Drain cycles after the last token of a SCAN pass.
SCAN_DRAIN = 2


def drain_cycles(kind: Kind, max_burst: int) -> int:
    """Cycles a pass waits after its last token (the pipeline's write-back + 1)."""
    return SCAN_DRAIN if kind is Kind.SCAN else NeuronLane.latency_for(max_burst) + 1


class Accelerator(wiring.Component):
    """The whole accelerator for one network and configuration.

    Parameters
    ----------
    plan : Plan
        From :func:`hwgen.hwplan.build_plan`.

    Members
    -------
    pixels : In(stream.Signature(input word))
        Image words, accepted while idle.
    start : In(1)
        Begin an inference.
    busy, done : Out(1)
        Running; one-cycle completion pulse.
    logits : Out(stream.Signature(signed(acc_bits)))
        The output layer's accumulators after ``done``.
    cycles : Out(32)
        Start-to-done cycles of the last inference.
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        spec = plan.network.input
        word = signed(spec.bits) if spec.signed else spec.bits
        super().__init__({
            "pixels": In(stream.Signature(word)), "start": In(1), "busy": Out(1), "done": Out(1),
            "logits": Out(stream.Signature(signed(plan.out_bits))), "cycles": Out(32),
        })

    def elaborate(self, platform):
        plan, m = self.plan, Module()
        P, passes, event = plan.lanes, plan.passes, plan.config.mode is Mode.EVENT
        depth = max(plan.buffer_depth + [plan.mem_depth, plan.list_depth, plan.offsets_depth,
                                          plan.weights.shape[1], plan.biases.shape[1]]
                    + [t.shape[0] * t.shape[1] * t.shape[2] for t in plan.tensors])
        abits = max(8, (depth * 4).bit_length() + 1)
        vb = plan.value_bits
        lanes = []
        for lane_index in range(P):
            lane = NeuronLane(value_bits=vb, weight_bits=plan.weight_bits, acc_bits=plan.acc_bits,
                              mem_bits=plan.mem_bits, max_burst=plan.max_burst,
                              weights=plan.weights[lane_index].tolist(), biases=plan.biases[lane_index].tolist(),
                              mem_depth=plan.mem_depth, cache_depth=plan.cache_depth, cache_bits=plan.cache_bits)
            m.submodules[f"lane{lane_index}"] = lane
            lanes.append(lane)
        # Buffers: 0 = input image, 1 and 2 = ping-pong spike buffers; P banks each.
        bufs = []
        for b, d in enumerate(plan.buffer_depth):
            banks = []
            for lane_index in range(P):
                mem = Memory(shape=signed(vb), depth=d, init=[])
                m.submodules[f"buf{b}_{lane_index}"] = mem
                banks.append((mem.read_port(), mem.write_port()))
            bufs.append(banks)
        # Pass state.
        n_first, n_all = len(plan.first), len(passes)
        pidx = Signal(range(n_all + 1))
        t = Signal(range(plan.network.timesteps + 1))
        dcount = Signal(range(64 + plan.max_burst))
        cur, nxt, der = walker_signals(passes, abits)
        e_rem = Signal(abits)
        e_idx = Signal(abits)
        cb, cd = Signal(range(P)), Signal(abits)
        saved = {k: Signal.like(der[k], name=f"e_{k}") for k in der}
        issuing, begin, scan_end = Signal(), Signal(), Signal()
        kind = {k: Signal(name=f"is_{k.value}") for k in Kind}
        # Event list memories.
        if event:
            ebits = plan.index_bits + vb
            lmem = Memory(shape=ebits, depth=plan.list_depth, init=[])
            omem = Memory(shape=2 * abits, depth=plan.offsets_depth, init=[])
            m.submodules.lmem, m.submodules.omem = lmem, omem
            l_rd, l_wr, o_rd, o_wr = lmem.read_port(), lmem.write_port(), omem.read_port(), omem.write_port()
            scans = {i: (q.channels, q.walk.ih, q.walk.iw, q.flat_list) for i, q in enumerate(passes)
                     if q.kind is Kind.SCAN}
            m.submodules.scanner = scan = Scanner(lanes=P, value_bits=vb, addr_bits=abits,
                                                  index_bits=plan.index_bits, scans=scans)
            m.d.comb += [scan.pass_index.eq(pidx), scan.begin.eq(begin & kind[Kind.SCAN]),
                         scan.active.eq(issuing & kind[Kind.SCAN]),
                         l_wr.addr.eq(scan.list_addr), l_wr.data.eq(scan.list_data), l_wr.en.eq(scan.list_en),
                         o_wr.addr.eq(scan.off_addr), o_wr.data.eq(scan.off_data), o_wr.en.eq(scan.off_en)]
        # Per-pass constants.
        pc = dict(src=Signal(2), dst=Signal(2), has_dst=Signal(), channels=Signal(abits), hw=Signal(abits),
                  kk=Signal(abits), drain=Signal.like(dcount), is_event=Signal())
        with m.Switch(pidx):
            for i, q in enumerate(passes):
                with m.Case(i):
                    walker_logic(m, q, cur, nxt, der)
                    m.d.comb += kind[q.kind].eq(1)
                    m.d.comb += [pc["src"].eq(q.src), pc["dst"].eq(max(q.dst, 0)), pc["has_dst"].eq(q.dst >= 0),
                                 pc["channels"].eq(q.channels), pc["hw"].eq(q.walk.ih * q.walk.iw),
                                 pc["kk"].eq(1 if q.flat_list else q.walk.kh * q.walk.kw),
                                 pc["drain"].eq(drain_cycles(q.kind, plan.max_burst)),
                                 pc["is_event"].eq(q.event)]
                    self._lane_params(m, q, lanes, t)
        # FSM.
        load = Signal()
        pass_end = Signal()
        count = Signal(abits)
        idx_cur, cb_cur, cd_cur = Signal(abits), Signal(range(P)), Signal(abits)
        pair = {k: Mux(load, der[k], saved[k]) for k in der}
        cycles = Signal(32)
        m.d.comb += self.cycles.eq(cycles)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [pidx.eq(0), t.eq(0), cycles.eq(1)]
                    m.next = "BEGIN"
            with m.State("BEGIN"):
                m.d.comb += [self.busy.eq(1), begin.eq(1)]
                m.d.sync += cycles.eq(cycles + 1)
                with m.Switch(pidx):
                    for i, q in enumerate(passes):
                        with m.Case(i):
                            m.d.sync += [cur[k].eq(v) for k, v in init_state(q).items()]
                m.d.sync += e_rem.eq(0)
                m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += [self.busy.eq(1), issuing.eq(1)]
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(pass_end | scan_end):
                    m.d.sync += dcount.eq(pc["drain"] - 1)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += cycles.eq(cycles + 1)
                m.d.sync += dcount.eq(dcount - 1)
                with m.If(dcount == 0):
                    last_t = t == plan.network.timesteps - 1
                    with m.If((pidx == n_first - 1) | (pidx == n_all - 1)):
                        m.d.sync += [t.eq(t + 1), pidx.eq(n_first)]
                        with m.If(last_t):
                            m.next = "DONE"
                        with m.Else():
                            m.next = "BEGIN"
                    with m.Else():
                        m.d.sync += pidx.eq(pidx + 1)
                        m.next = "BEGIN"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "OUT"
            with m.State("OUT"):
                self._logit_reader(m, lanes)
        # Issuer (E stage).
        m.d.comb += load.eq(issuing & (e_rem == 0))
        if event:
            off_start, off_len = o_rd.data[:abits], o_rd.data[abits:]
        with m.If(load):
            m.d.sync += [cur[k].eq(nxt[k]) for k in COUNTERS]
            m.d.sync += [saved[k].eq(der[k]) for k in der]
        tok_null, ev_null = Signal(), Signal()
        with m.If(kind[Kind.POOL] | kind[Kind.CACHED] | der["null"]):
            m.d.comb += count.eq(1)
        if event:
            with m.Elif(pc["is_event"]):
                m.d.comb += [count.eq(Mux(off_len == 0, 1, off_len)), ev_null.eq(off_len == 0)]
        with m.Else():
            m.d.comb += count.eq(pc["channels"])
        m.d.comb += tok_null.eq(load & (der["null"] | ev_null))
        rem_after = Mux(load, count - 1, e_rem - 1)
        first_idx = Mux(pc["is_event"], off_start, 0) if event else 0
        m.d.comb += [idx_cur.eq(Mux(load, first_idx, e_idx)), cb_cur.eq(Mux(load, 0, cb)),
                     cd_cur.eq(Mux(load, 0, cd))]
        m.d.comb += pass_end.eq(issuing & pair["final"] & (rem_after == 0) & ~kind[Kind.SCAN])
        if event:
            m.d.comb += scan_end.eq(issuing & kind[Kind.SCAN] & scan.end)
        with m.If(issuing):
            m.d.sync += [e_rem.eq(rem_after), e_idx.eq(idx_cur + 1)]
            m.d.sync += [cb.eq(Mux(cb_cur == P - 1, 0, cb_cur + 1)), cd.eq(Mux(cb_cur == P - 1, cd_cur + 1, cd_cur))]
        # Reads at issue.
        rd_addr = Signal(abits)
        m.d.comb += rd_addr.eq(Mux(kind[Kind.POOL], pair["g_out"], cd_cur) * pc["hw"] + pair["pos"])
        if event:
            with m.If(kind[Kind.SCAN]):
                m.d.comb += rd_addr.eq(scan.rd_addr)
        for banks in bufs:
            for rd, _ in banks:
                m.d.comb += rd.addr.eq(rd_addr)
        if event:
            m.d.comb += l_rd.addr.eq(idx_cur)
            with m.If(~issuing):
                m.d.comb += o_rd.addr.eq(der["init_pos"])
            with m.Elif(load):
                m.d.comb += o_rd.addr.eq(der["next_pos"])
            with m.Else():
                m.d.comb += o_rd.addr.eq(der["pos"])
        # Stage n+1 token.
        tok = dict(valid=Signal(), first=Signal(), last=Signal(), null=Signal(), bank=Signal(range(P)),
                   c=Signal(abits), tap_off=Signal(abits), gbase=Signal(abits), naddr=Signal(abits),
                   baddr=Signal(abits), oaddr=Signal(abits), pool_first=Signal(), pool_last=Signal())
        m.d.sync += [tok["valid"].eq(issuing), tok["first"].eq(load & der["first_tap"]),
                     tok["last"].eq(pair["last_tap"] & (rem_after == 0)), tok["null"].eq(tok_null),
                     tok["bank"].eq(cb_cur), tok["c"].eq(idx_cur)]
        m.d.sync += [tok[k].eq(pair[k]) for k in ("tap_off", "gbase", "naddr", "baddr", "oaddr", "pool_first",
                                                     "pool_last")]
        bsel = Signal(signed(vb))
        srcdata = [Signal(signed(vb), name=f"src_l{lane_index}") for lane_index in range(P)]
        for lane_index in range(P):
            with m.Switch(pc["src"]):
                for b in range(3):
                    with m.Case(b):
                        m.d.comb += srcdata[lane_index].eq(bufs[b][lane_index][0].data)
        with m.Switch(tok["bank"]):
            for lane_index in range(P):
                with m.Case(lane_index):
                    m.d.comb += bsel.eq(srcdata[lane_index])
        value, wofs = Signal(signed(vb)), Signal(abits)
        m.d.comb += [value.eq(bsel), wofs.eq(tok["c"] * pc["kk"] + tok["tap_off"])]
        if event:
            e_index, e_value = l_rd.data[vb:], l_rd.data[:vb].as_signed()
            with m.If(pc["is_event"]):
                m.d.comb += [value.eq(e_value), wofs.eq(e_index * pc["kk"] + tok["tap_off"])]
            m.d.comb += [scan.rd_data[lane_index].eq(srcdata[lane_index]) for lane_index in range(P)]
        to_lanes = tok["valid"] & ~kind[Kind.SCAN]
        for lane_index, lane in enumerate(lanes):
            own = srcdata[lane_index]
            m.d.comb += [lane.valid.eq(to_lanes), lane.first.eq(tok["first"]), lane.last.eq(tok["last"]),
                         lane.null.eq(tok["null"]), lane.value.eq(Mux(kind[Kind.POOL], own, value)),
                         lane.waddr.eq(tok["gbase"] + wofs), lane.baddr.eq(tok["baddr"]),
                         lane.naddr.eq(tok["naddr"]), lane.pool_first.eq(tok["pool_first"]),
                         lane.pool_last.eq(tok["pool_last"])]
        # Write-back address rides alongside the lanes.
        oaddr = tok["oaddr"]
        for j in range(lanes[0].latency):
            nxt_addr = Signal(abits, name=f"oaddr_d{j}")
            m.d.sync += nxt_addr.eq(oaddr)
            oaddr = nxt_addr
        for b in (1, 2):
            for lane_index, lane in enumerate(lanes):
                wr = bufs[b][lane_index][1]
                m.d.comb += [wr.addr.eq(oaddr), wr.data.eq(lane.out_value),
                             wr.en.eq(lane.out_valid & pc["has_dst"] & (pc["dst"] == b))]
        self._loader(m, bufs[0])
        return m

    def _lane_params(self, m, q, lanes, t):
        """Pass constants of the lanes (inside pass ``q``'s ``Case``)."""
        plan = self.plan
        spiking = q.kind in (Kind.CONV, Kind.CACHED)
        lo, hi = (-(1 << (q.bits - 1)), (1 << (q.bits - 1)) - 1) if spiking else \
            (-(1 << (plan.acc_bits - 1)), (1 << (plan.acc_bits - 1)) - 1)
        for lane in lanes:
            m.d.comb += [lane.unit_weight.eq(q.kind is Kind.POOL), lane.use_bias.eq(q.kind is Kind.CONV),
                         lane.use_cache.eq(q.kind is Kind.CACHED), lane.write_cache.eq(q.write_cache),
                         lane.t0.eq((t == 0) | (q.kind is Kind.POOL)), lane.pool_out.eq(q.kind is Kind.POOL),
                         lane.fused.eq(q.fused_pool), lane.v_init.eq(q.v_init if spiking else 0),
                         lane.threshold.eq(q.threshold), lane.burst.eq(q.burst if spiking else 0),
                         lane.lo.eq(lo), lane.hi.eq(hi)]

    def _loader(self, m, banks):
        """Input stream -> buffer 0, C order, bank ``c mod P``."""
        plan, P = self.plan, self.plan.lanes
        c, h, w = plan.tensors[0].shape
        lc, ly, lx, lb = Signal(range(c)), Signal(range(h)), Signal(range(w)), Signal(range(P))
        lgrp = Signal(range(c // P + 2))
        m.d.comb += self.pixels.ready.eq(~self.busy)
        addr = lgrp * (h * w) + ly * w + lx
        for b, (_, wr) in enumerate(banks):
            m.d.comb += [wr.addr.eq(addr), wr.data.eq(self.pixels.payload),
                         wr.en.eq(self.pixels.valid & self.pixels.ready & (lb == b))]
        with m.If(self.start & ~self.busy):
            m.d.sync += [lc.eq(0), ly.eq(0), lx.eq(0), lb.eq(0), lgrp.eq(0)]
        with m.Elif(self.pixels.valid & self.pixels.ready):
            m.d.sync += lx.eq(Mux(lx == w - 1, 0, lx + 1))
            with m.If(lx == w - 1):
                m.d.sync += ly.eq(Mux(ly == h - 1, 0, ly + 1))
                with m.If(ly == h - 1):
                    last_c = lc == c - 1
                    m.d.sync += [lc.eq(Mux(last_c, 0, lc + 1)), lb.eq(Mux(last_c | (lb == P - 1), 0, lb + 1)),
                                 lgrp.eq(Mux(last_c, 0, Mux(lb == P - 1, lgrp + 1, lgrp)))]

    def _logit_reader(self, m, lanes):
        """State OUT: stream the output accumulators (C order) from the lanes' membrane RAM."""
        plan, P = self.plan, self.plan.lanes
        oc, oh, ow = plan.out_shape
        i_c, i_pos, i_b, i_g = Signal(range(oc)), Signal(range(oh * ow)), Signal(range(P)), Signal(range(oc // P + 2))
        fetched = Signal()
        for lane in lanes:
            m.d.comb += [lane.ext_en.eq(1), lane.ext_addr.eq(plan.out_nbase + i_g * (oh * ow) + i_pos)]
        data = Signal(signed(plan.mem_bits))
        with m.Switch(i_b):
            for b, lane in enumerate(lanes):
                with m.Case(b):
                    m.d.comb += data.eq(lane.mem_data)
        m.d.sync += fetched.eq(1)
        m.d.comb += [self.logits.valid.eq(fetched), self.logits.payload.eq(data)]
        with m.If(self.logits.valid & self.logits.ready):
            m.d.sync += fetched.eq(0)
            m.d.sync += i_pos.eq(Mux(i_pos == oh * ow - 1, 0, i_pos + 1))
            with m.If(i_pos == oh * ow - 1):
                last_c = i_c == oc - 1
                m.d.sync += [i_c.eq(Mux(last_c, 0, i_c + 1)), i_b.eq(Mux(last_c | (i_b == P - 1), 0, i_b + 1)),
                             i_g.eq(Mux(last_c, 0, Mux(i_b == P - 1, i_g + 1, i_g)))]
                with m.If(last_c):
                    m.next = "IDLE"
