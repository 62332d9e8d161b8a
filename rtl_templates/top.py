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
* With ``AccelConfig.weights = "loaded"`` there is no weight ROM: while not
  ``busy``, ``weights`` accepts the :class:`.weightbank.WeightBank` words,
  one a beat, in address order (all of them before the first ``start``;
  they stay until the next load or power-off).
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwgen.hwconfig import BufferRam, Mode, Multipliers, WeightStore
from hwgen.hwplan import Kind, Plan

from .blockmem import OUTREG_PREFIX, bank_block_registers
from .lane import NeuronLane
from .lutram import LutRamBank, lutram_ports
from .ports import buffer_writes, index_bits, logit_reader
from .scanner import Scanner
from .walker import Walker
from .weightbank import WeightBank

#: Cycles of a pass before its first token: pass constants, then the walker pipeline fills.
BEGIN_CYCLES = 3
#: Registers between a token's issue cycle and the lanes' inputs (T1, T2, T3).
ISSUE_STAGES = 3
#: Drain cycles after the last token of a SCAN pass.
SCAN_DRAIN = 2


def drain_cycles(kind: Kind, max_burst: int) -> int:
    """Cycles a pass waits after its last token (until its last write-back)."""
    return SCAN_DRAIN if kind is Kind.SCAN else NeuronLane.latency_for(max_burst) + ISSUE_STAGES - 1


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
    weights : In(stream.Signature(lanes * weight_bits))
        ``weights = "loaded"`` only: the weight bank's words (see the protocol).
    cycles : Out(32)
        Start-to-done cycles of the last inference.
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        spec = plan.network.input
        word = signed(spec.bits) if spec.signed else spec.bits
        ports = {
            "pixels": In(stream.Signature(word)), "start": In(1), "busy": Out(1), "done": Out(1),
            "logits": Out(stream.Signature(signed(plan.out_bits))), "cycles": Out(32),
        }
        if self.loaded:
            ports["weights"] = In(stream.Signature(plan.lanes * plan.weight_bits))
        super().__init__(ports)

    @property
    def loaded(self) -> bool:
        """Whether the weights are a run-time loaded :class:`.weightbank.WeightBank` (no ROM)."""
        return self.plan.config.weights is WeightStore.LOADED

    def elaborate(self, platform):
        plan, m = self.plan, Module()
        P, passes, event = plan.lanes, plan.passes, plan.config.mode is Mode.EVENT
        vb, bdepth = plan.value_bits, sum(plan.buffer_depth)
        ecp5 = getattr(platform, "family", None) == "ecp5"
        rbits = index_bits(max(bdepth, plan.offsets_depth, plan.list_depth + 1 if event else 1))
        widths = dict(rpos=rbits, wpair=index_bits(plan.weights.shape[1]), naddr=index_bits(plan.mem_depth),
                      baddr=index_bits(plan.biases.shape[1]), oaddr=index_bits(bdepth))
        lanes = []
        for lane_index in range(P):
            lane = NeuronLane(value_bits=vb, weight_bits=plan.weight_bits, acc_bits=plan.acc_bits,
                              mem_bits=plan.mem_bits, max_burst=plan.max_burst,
                              weights=None if self.loaded else plan.weights[lane_index].tolist(),
                              biases=plan.biases[lane_index].tolist(),
                              mem_depth=plan.mem_depth, cache_depth=plan.cache_depth, cache_bits=plan.cache_bits,
                              fire_bits=plan.fire_bits, single_port=plan.single_port,
                              dsp=plan.config.multipliers is Multipliers.DSP)
            m.submodules[f"lane{lane_index}"] = lane
            lanes.append(lane)
        # Buffers 0 (image), 1, 2 (ping-pong) share one memory per bank, at plan.buffer_base
        # (the image last: a bank without image channels ends before it).
        # On ECP5 a bank in one block deep uses the block's output register as bank_q
        # (hwgen.build.outreg_script; blockmem's module docstring).
        banks, in_block = [], []
        distributed = plan.config.buffers is BufferRam.DISTRIBUTED
        for lane_index in range(P):
            depth = plan.bank_depth(lane_index)
            outreg = ecp5 and bank_block_registers(depth, vb, distributed) > 0
            if distributed:
                m.submodules[f"buf{lane_index}"] = bank = LutRamBank(signed(vb), depth, attrs=plan.config.buffer_attrs)
                banks.append(lutram_ports(bank))
            else:
                mem = Memory(shape=signed(vb), depth=depth, init=[], attrs={"ram_style": "block"} if outreg else {})
                m.submodules[f"{OUTREG_PREFIX}buf{lane_index}" if outreg else f"buf{lane_index}"] = mem
                banks.append((mem.read_port(), mem.write_port()))
            in_block.append(outreg)
        base = plan.buffer_base
        m.submodules.walker = walker = Walker(passes, [(base[q.src], base[max(q.dst, 0)]) for q in passes], widths)
        n_first, n_all = len(plan.first), len(passes)
        pidx = Signal(range(n_all + 1))
        t = Signal(range(plan.network.timesteps + 1))
        begin = Signal()
        pc, lp = self._pass_constants(m, begin, pidx, t, rbits, widths)
        m.d.comb += walker.pass_index.eq(pidx)
        issuing, fill_end = Signal(name="issuing"), Signal()    # issuing: a register, cleared by the last token
        if event:
            ebits = plan.index_bits + vb
            lmem = Memory(shape=ebits, depth=plan.list_depth, init=[])
            omem = Memory(shape=2 * rbits, depth=plan.offsets_depth, init=[])
            m.submodules.lmem, m.submodules.omem = lmem, omem
            l_rd, l_wr, o_rd, o_wr = lmem.read_port(), lmem.write_port(), omem.read_port(), omem.write_port()
            scans = {}
            for i, q in enumerate(passes):
                if q.kind is Kind.SCAN:
                    consumer = passes[i + 1].walk
                    scans[i] = (q.channels, q.walk.ih, q.walk.iw, q.flat_list, consumer.kh * consumer.kw,
                                base[q.src])
            m.submodules.scanner = scan = Scanner(lanes=P, value_bits=vb, addr_bits=rbits,
                                                  index_bits=plan.index_bits, scans=scans)
            m.d.comb += [scan.pass_index.eq(pidx), scan.begin.eq(fill_end & pc["is_scan"]),
                         scan.active.eq(issuing & pc["is_scan"]),
                         l_wr.addr.eq(scan.list_addr), l_wr.data.eq(scan.list_data), l_wr.en.eq(scan.list_en),
                         o_wr.addr.eq(scan.off_addr), o_wr.data.eq(scan.off_data), o_wr.en.eq(scan.off_en)]
            m.d.comb += [scan.rd_data[i].eq(rd.data) for i, (rd, _) in enumerate(banks)]
        # FSM.
        pass_end, scan_end, out_start, out_done = Signal(), Signal(), Signal(), Signal()
        out_active, out_end = Signal(name="out_active"), Signal(name="out_end")
        dcount = Signal(range(64 + plan.max_burst))
        dzero, step_end, last_t, pnext = Signal(), Signal(), Signal(), Signal.like(pidx)
        m.d.comb += walker.pass_next.eq(pnext)      # the pass of the next BEGIN (0 while idle)
        cycles = Signal(32)
        m.d.comb += self.cycles.eq(cycles)
        load = Signal(name="load")      # issuing & "a pair's first token": a register (see the issuer)
        # BEGIN, FILL0, FILL1 and DONE as registers of their own (set with the transition into
        # the state), so the walker, the pass constants and the logit reader start from registers.
        in_begin, in_fill0, in_fill1, in_done = (Signal(name=n) for n in ("in_begin", "in_fill0", "in_fill1",
                                                                           "in_done"))
        m.d.sync += [in_begin.eq(0), in_done.eq(0), in_fill0.eq(in_begin), in_fill1.eq(in_fill0)]
        m.d.comb += [walker.init.eq(in_begin), begin.eq(in_begin), walker.fill.eq(Cat(in_fill0, in_fill1)),
                     fill_end.eq(in_fill1), out_start.eq(in_done)]
        # can_start: a register, high in IDLE and in OUT once out_end is (so a start's fan-out
        # meets one gate, not the FSM's state decode).
        can_start, accept = Signal(name="can_start", init=1), Signal(name="accept")
        m.d.comb += accept.eq(self.start & can_start)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(accept):
                    m.next = "BEGIN"
            with m.State("BEGIN"):
                m.d.comb += self.busy.eq(1)
                wraps = (pidx == n_first - 1) | (pidx == n_all - 1)
                m.d.sync += [cycles.eq(cycles + 1), step_end.eq(wraps), last_t.eq(t == plan.network.timesteps - 1),
                             pnext.eq(Mux(wraps, n_first, pidx + 1))]
                m.next = "FILL0"
            with m.State("FILL0"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "FILL1"
            with m.State("FILL1"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "ISSUE"
            with m.State("ISSUE"):
                # The tokens, then one cycle with issuing low: the first of the drain.
                m.d.comb += self.busy.eq(1)
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(~issuing):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [cycles.eq(cycles + 1), dcount.eq(dcount - 1), dzero.eq(dcount == 1)]
                with m.If(dzero):
                    m.d.sync += pidx.eq(pnext)
                    with m.If(step_end):
                        m.d.sync += t.eq(t + 1)
                    with m.If(step_end & last_t):
                        m.d.sync += [pnext.eq(0), in_done.eq(1)]     # pnext: the first pass of the next start
                        m.next = "DONE"
                    with m.Else():
                        m.d.sync += in_begin.eq(1)
                        m.next = "BEGIN"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "OUT"
            with m.State("OUT"):
                with m.If(out_end):         # idle already: a start here is taken as in IDLE
                    m.next = "IDLE"
                    with m.If(accept):
                        m.next = "BEGIN"
        with m.If(accept):
            m.d.sync += [pidx.eq(0), t.eq(0), cycles.eq(1), in_begin.eq(1), can_start.eq(0)]
        with m.Elif(out_done):
            m.d.sync += can_start.eq(1)
        # Issuing from FILL1 to the last token (outside the FSM: no state decode in these paths).
        with m.If(in_fill1):
            m.d.sync += issuing.eq(1)
        with m.Elif(pass_end | scan_end):
            m.d.sync += [issuing.eq(0), dcount.eq(pc["drain"] - 2), dzero.eq(pc["drain"] == 2)]
        # "In OUT" as its own register (the logit reader's logic starts from registers); the
        # FSM leaves OUT a cycle after the last logit is taken, from a register (the taker's
        # ``ready`` then meets no FSM logic).
        m.d.sync += out_end.eq(out_done)
        with m.If(out_start | out_done):
            m.d.sync += out_active.eq(out_start)
        m.d.comb += out_done.eq(logit_reader(m, self, plan, lanes, out_start, out_active))
        # Issuer: one token a cycle.
        m.d.comb += walker.take.eq(load)
        rem = Signal(index_bits(max(max(q.channels for q in passes), plan.list_depth) + 1))
        s_last, s_final = Signal(), Signal()
        pair_one, pair_rem, pair_rem1, ev_null = Signal(), Signal.like(rem), Signal(), Signal()
        if event:
            off_start, off_len = o_rd.data[:rbits], o_rd.data[rbits:]
            m.d.comb += o_rd.addr.eq(walker.next_rpos)
        with m.If(pc["one_tok"] | walker.null):
            m.d.comb += pair_one.eq(1)
        if event:
            with m.Elif(pc["is_event"]):
                m.d.comb += [ev_null.eq(off_len == 0), pair_one.eq(off_len <= 1),
                             pair_rem.eq(Mux(off_len == 0, 0, off_len - 1)), pair_rem1.eq(off_len == 2)]
        with m.Else():
            m.d.comb += [pair_one.eq(pc["c1"]), pair_rem.eq(pc["cm1"]), pair_rem1.eq(pc["cm1"] == 1)]
        # rem1 = (rem == 1), a register beside rem, so the issue recurrence has no comparator.
        z_next, pair_last, rem1 = Signal(), Signal(), Signal(name="rem1")
        pair_final = Mux(load, walker.final, s_final)
        m.d.comb += [z_next.eq(Mux(load, pair_one, rem1)), pair_last.eq(Mux(load, walker.last_tap, s_last)),
                     pass_end.eq(issuing & pair_final & z_next & ~pc["is_scan"])]
        if event:
            m.d.comb += scan_end.eq(issuing & pc["is_scan"] & scan.end)
        # load: the next token starts a pair, and issuing (a register, not issuing & z, so the
        # walker's and the address sums' enables start from a flip-flop: the iCE40's z-loop).
        m.d.sync += load.eq(in_fill1 | (issuing & ~pass_end & ~scan_end & z_next))
        with m.If(issuing):
            m.d.sync += [rem.eq(Mux(load, pair_rem, rem - 1)), rem1.eq(Mux(load, pair_rem1, rem == 2))]
            with m.If(load):
                m.d.sync += [s_last.eq(walker.last_tap), s_final.eq(walker.final)]
        # Dense token addresses: running sums over the pair's channels (bank cb, word cd HW + pos).
        cb, racc, wacc = Signal(range(P)), Signal(rbits), Signal(widths["wpair"])
        cb_cur, rd_addr, waddr = Signal(range(P)), Signal(rbits), Signal(widths["wpair"])
        wrap = cb_cur == P - 1
        m.d.comb += [cb_cur.eq(Mux(load, 0, cb)), rd_addr.eq(Mux(load, walker.rpos, racc)),
                     waddr.eq(Mux(load, walker.wpair, wacc))]
        with m.If(issuing):
            m.d.sync += [cb.eq(Mux(wrap, 0, cb_cur + 1)), racc.eq(rd_addr + Mux(wrap, pc["hw"], 0)),
                         wacc.eq(waddr + pc["kk"])]
        for rd, _ in banks:
            m.d.comb += rd.addr.eq(Mux(pc["is_scan"], scan.rd_addr, rd_addr) if event else rd_addr)
        if event:
            eidx, eidx_cur = Signal(index_bits(plan.list_depth)), Signal(index_bits(plan.list_depth))
            m.d.comb += [eidx_cur.eq(Mux(load, off_start, eidx)), l_rd.addr.eq(eidx_cur)]
            with m.If(issuing):
                m.d.sync += eidx.eq(eidx_cur + 1)
        # T1: the token (its group fields held from the pair's first token).
        t1 = dict(valid=Signal(), first=Signal(), last=Signal(), null=Signal(), bank=Signal(range(P)),
                  waddr=Signal(widths["wpair"]), wpair=Signal(widths["wpair"]), naddr=Signal(widths["naddr"]),
                  baddr=Signal(widths["baddr"]), oaddr=Signal(widths["oaddr"]), pool_first=Signal(),
                  pool_last=Signal())
        t1 = {k: Signal.like(v, name=f"t1_{k}") for k, v in t1.items()}
        m.d.sync += [t1["valid"].eq(issuing & ~pc["is_scan"]), t1["first"].eq(load & walker.first_tap),
                     t1["last"].eq(pair_last & z_next), t1["null"].eq(load & (walker.null | ev_null)),
                     t1["bank"].eq(cb_cur), t1["waddr"].eq(waddr)]
        with m.If(load):
            m.d.sync += [t1[k].eq(getattr(walker, k)) for k in ("naddr", "baddr", "oaddr", "pool_first",
                                                                  "pool_last")]
            m.d.sync += t1["wpair"].eq(walker.wpair)
        # T2: memory outputs registered.
        t2 = {k: Signal.like(v, name=f"t2_{k}") for k, v in t1.items()}
        m.d.sync += [t2[k].eq(t1[k]) for k in t1]
        bank_q = [Signal(signed(vb), name=f"bank_q{i}") for i in range(P)]
        for q, (rd, _), outreg in zip(bank_q, banks, in_block):
            if distributed:         # the LUT-RAM pieces' registers (lutram.py)
                m.d.comb += q.eq(rd.q)
            elif outreg:
                m.d.comb += q.eq(rd.data)
            else:
                m.d.sync += q.eq(rd.data)
        # T3: the lanes' inputs.
        t3 = {k: Signal.like(t1[k], name=f"t3_{k}") for k in t1 if k not in ("bank", "wpair")}
        m.d.sync += [t3[k].eq(t2[k]) for k in t3]
        bsel = Signal(signed(vb))
        with m.Switch(t2["bank"]):
            for i in range(P):
                with m.Case(i):
                    m.d.comb += bsel.eq(bank_q[i])
        shared, waddr_next = bsel, t2["waddr"]
        if event:
            lq_value, lq_index = Signal(signed(vb)), Signal(plan.index_bits)
            m.d.sync += [lq_value.eq(l_rd.data[:vb]), lq_index.eq(l_rd.data[vb:])]
            shared = Mux(pc["is_event"], lq_value, bsel)
            waddr_next = Signal.like(t2["waddr"], name="t2_waddr_next")
            m.d.comb += waddr_next.eq(Mux(pc["is_event"], t2["wpair"] + lq_index, t2["waddr"]))
            m.d.sync += t3["waddr"].eq(waddr_next)
        values = [Signal(signed(vb), name=f"t3_value{i}") for i in range(P)]
        m.d.sync += [v.eq(Mux(pc["is_pool"], bank_q[i], shared)) for i, v in enumerate(values)]
        self._weights(m, lanes, t3["waddr"], waddr_next)
        for lane, value in zip(lanes, values):
            m.d.comb += [lane.valid.eq(t3["valid"]), lane.first.eq(t3["first"]), lane.last.eq(t3["last"]),
                         lane.null.eq(t3["null"]), lane.value.eq(value),
                         lane.baddr.eq(t3["baddr"]), lane.naddr.eq(t3["naddr"]),
                         lane.pool_first.eq(t3["pool_first"]), lane.pool_last.eq(t3["pool_last"])]
            m.d.comb += [getattr(lane, k).eq(v) for k, v in lp.items()]
        # Write-back address rides alongside the lanes; the loader shares the write ports.
        oaddr = t3["oaddr"]
        for j in range(lanes[0].latency):
            nxt_addr = Signal.like(oaddr, name=f"oaddr_d{j}")
            m.d.sync += nxt_addr.eq(oaddr)
            oaddr = nxt_addr
        buffer_writes(m, self, plan, lanes, banks, oaddr, pc["has_dst"])
        return m

    def _weights(self, m, lanes, waddr, waddr_next):
        """Each lane's weight address (ROMs: a register of its own, ``t3_waddr_l<i>``, loaded
        with ``waddr_next`` like the shared ``waddr``, so no decode logic is shared across
        lanes) or the shared loaded bank and its load port."""
        if not self.loaded:
            for i, lane in enumerate(lanes):
                own = Signal.like(waddr, name=f"t3_waddr_l{i}")
                m.d.sync += own.eq(waddr_next)
                m.d.comb += lane.waddr.eq(own)
            return
        wb = self.plan.weight_bits
        m.submodules.wbank = bank = WeightBank(self.plan.lanes, wb, self.plan.weights.shape[1])
        m.d.comb += [self.weights.ready.eq(~self.busy), bank.write_data.eq(self.weights.payload),
                     bank.write_en.eq(self.weights.valid & ~self.busy), bank.read_addr.eq(waddr)]
        m.d.comb += [lane.weight.eq(bank.read_data[i * wb:(i + 1) * wb]) for i, lane in enumerate(lanes)]

    def _pass_constants(self, m, begin, pidx, t, rbits, widths):
        """Issuer and lane constants of the running pass, registered in its ``BEGIN`` cycle."""
        plan = self.plan
        pc = dict(is_scan=Signal(), is_pool=Signal(), is_event=Signal(), one_tok=Signal(), has_dst=Signal(),
                  c1=Signal(), cm1=Signal(range(max(q.channels for q in plan.passes))), hw=Signal(rbits), kk=Signal(widths["wpair"]),
                  drain=Signal(range(64 + plan.max_burst)))
        v_bits = max(plan.mem_bits, plan.acc_bits, plan.cache_bits) + 2
        lp = dict(unit_weight=Signal(), use_bias=Signal(), use_cache=Signal(), write_cache=Signal(), t0=Signal(),
                  pool_out=Signal(), fused=Signal(), v_init=Signal(signed(plan.mem_bits)),
                  threshold=Signal(signed(v_bits)), burst=Signal(range(plan.max_burst + 1)),
                  lo=Signal(signed(v_bits)), hi=Signal(signed(v_bits)))
        pc = {k: Signal.like(v, name=f"pc_{k}") for k, v in pc.items()}
        lp = {k: Signal.like(v, name=f"lp_{k}") for k, v in lp.items()}
        with m.If(begin):
            with m.Switch(pidx):
                for i, q in enumerate(plan.passes):
                    with m.Case(i):
                        w = q.walk
                        m.d.sync += [
                            pc["is_scan"].eq(q.kind is Kind.SCAN), pc["is_pool"].eq(q.kind is Kind.POOL),
                            pc["is_event"].eq(q.event), pc["one_tok"].eq(q.kind in (Kind.POOL, Kind.CACHED)),
                            pc["has_dst"].eq(q.dst >= 0), pc["c1"].eq(q.channels == 1),
                            pc["cm1"].eq(q.channels - 1), pc["hw"].eq(w.ih * w.iw),
                            pc["kk"].eq(1 if q.flat_list else w.kh * w.kw),
                            pc["drain"].eq(drain_cycles(q.kind, plan.max_burst))]
                        spiking = q.kind in (Kind.CONV, Kind.CACHED)
                        bits = q.bits if spiking else plan.acc_bits
                        m.d.sync += [
                            lp["unit_weight"].eq(q.kind is Kind.POOL), lp["use_bias"].eq(q.kind is Kind.CONV),
                            lp["use_cache"].eq(q.kind is Kind.CACHED), lp["write_cache"].eq(q.write_cache),
                            lp["t0"].eq((t == 0) | (q.kind is Kind.POOL)), lp["pool_out"].eq(q.kind is Kind.POOL),
                            lp["fused"].eq(q.fused_pool), lp["v_init"].eq(q.v_init if spiking else 0),
                            lp["threshold"].eq(q.threshold), lp["burst"].eq(q.burst if spiking else 0),
                            lp["lo"].eq(-(1 << (bits - 1))), lp["hi"].eq((1 << (bits - 1)) - 1)]
        return pc, lp
