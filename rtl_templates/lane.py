"""One neuron lane: synapse MAC, membrane update, fire, spike write-back.

A lane owns its weight ROM, bias ROM, membrane RAM and (first layer)
current cache. Tokens stream in one a cycle; a *group* is the run of tokens
from ``first`` to ``last`` that computes one output neuron:

.. math::

    S &= \\textstyle\\sum_{tokens} x \\cdot w
        \\qquad (x \\cdot w = 0 \\text{ for a null token}) \\\\
    I &= S + b \\quad\\text{(or the cached } I\\text{)} \\\\
    V &\\leftarrow \\mathrm{sat}(V + I) \\in [lo, hi],
        \\quad k = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma),
        \\quad V \\leftarrow V - k\\theta

Pipeline (cycle :math:`a` = token in): :math:`a` weight read;
:math:`a+1` product; :math:`a+2` accumulate; :math:`a+3` membrane, bias and
cache read; :math:`a+4` :math:`U = V + I`; :math:`a+5` saturate;
:math:`a+6 \\ldots` fire (``FireUnit.latency`` stages); then the write-back
cycle ``a + latency``. Groups stream back to back (a group may be a single
token): the fire and write-back of one group overlap the accumulation of the
next, and no neuron is visited twice in a pass, so the membrane read and its
write-back never alias. A fused sum-pool window (``pool_first`` ..
``pool_last`` over consecutive groups) is summed in a register and written
once.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .fire import FireUnit


class NeuronLane(wiring.Component):
    """A pipelined neuron lane (see the module docstring).

    Parameters
    ----------
    value_bits, weight_bits, acc_bits, mem_bits : int
        Signed widths of inputs, weights, partial sums/currents, membranes.
    max_burst : int
        :math:`\\Gamma_{max}` of the fire unit.
    weights, biases : list of int
        ROM contents (this lane's rows, every layer concatenated).
    mem_depth, cache_depth : int
        Membrane RAM and current-cache words (``cache_depth = 0``: no cache).

    Members
    -------
    valid, first, last, null, value, waddr, baddr, naddr, pool_first, pool_last : In
        One token: input :math:`x`, weight and bias addresses, the membrane
        address of its group, and the fused-pool window flags.
    unit_weight, use_bias, use_cache, write_cache, t0, pool_out, fused, v_init,
    threshold, burst, lo, hi : In
        Pass parameters, constant during a pass and its drain.
    ext_en, ext_addr, mem_data : In, In, Out
        Membrane read port for the logit reader while the lane is idle.
    out_valid, out_value : Out
        The write-back: a spike count (or pool sum) for the spike buffer.
    """

    def __init__(self, *, value_bits, weight_bits, acc_bits, mem_bits, max_burst,
                 weights, biases, mem_depth, cache_depth=0, cache_bits=2):
        for name, bits in (("value_bits", value_bits), ("weight_bits", weight_bits),
                           ("acc_bits", acc_bits), ("mem_bits", mem_bits)):
            if bits < 2:
                raise ValueError(f"{name} must be >= 2, got {bits}")
        self.value_bits, self.weight_bits, self.acc_bits = value_bits, weight_bits, acc_bits
        self.mem_bits, self.max_burst, self.cache_bits = mem_bits, max_burst, cache_bits
        self.weights, self.biases = [int(w) for w in weights] or [0], [int(b) for b in biases] or [0]
        self.mem_depth, self.cache_depth = max(1, mem_depth), cache_depth
        self.v_bits = max(mem_bits, acc_bits, cache_bits) + 2
        super().__init__({
            "valid": In(1), "first": In(1), "last": In(1), "null": In(1),
            "value": In(signed(value_bits)), "waddr": In(range(len(self.weights))),
            "baddr": In(range(len(self.biases))), "naddr": In(range(self.mem_depth)),
            "pool_first": In(1), "pool_last": In(1),
            "unit_weight": In(1), "use_bias": In(1), "use_cache": In(1), "write_cache": In(1),
            "t0": In(1), "pool_out": In(1), "fused": In(1),
            "v_init": In(signed(mem_bits)), "threshold": In(signed(self.v_bits)),
            "burst": In(range(max_burst + 1)), "lo": In(signed(self.v_bits)), "hi": In(signed(self.v_bits)),
            "ext_en": In(1), "ext_addr": In(range(self.mem_depth)), "mem_data": Out(signed(mem_bits)),
            "out_valid": Out(1), "out_value": Out(signed(value_bits)),
        })

    @property
    def fire_latency(self) -> int:
        return max(1, self.max_burst)

    @staticmethod
    def latency_for(max_burst: int) -> int:
        """:attr:`latency` of a lane whose fire unit has ``max_burst`` stages."""
        return 6 + max(1, max_burst)

    @property
    def latency(self) -> int:
        """Cycles from a group's ``last`` token to its write-back: ``6 + FireUnit.latency``."""
        return self.latency_for(self.max_burst)

    def elaborate(self, platform):
        m = Module()
        wrom = Memory(shape=signed(self.weight_bits), depth=len(self.weights), init=self.weights)
        brom = Memory(shape=signed(self.acc_bits), depth=len(self.biases), init=self.biases)
        vram = Memory(shape=signed(self.mem_bits), depth=self.mem_depth, init=[])
        m.submodules.wrom, m.submodules.brom, m.submodules.vram = wrom, brom, vram
        w_rd, b_rd, v_rd, v_wr = wrom.read_port(), brom.read_port(), vram.read_port(), vram.write_port()
        m.submodules.fire = fire = FireUnit(self.v_bits, self.max_burst)

        def stage(name, shape=1):
            return Signal(shape, name=name)

        # a: weight read; token registered.
        m.d.comb += w_rd.addr.eq(self.waddr)
        s1 = {k: stage(f"s1_{k}", getattr(self, k).shape()) for k in
              ("valid", "first", "last", "null", "value", "naddr", "baddr", "pool_first", "pool_last")}
        m.d.sync += [s1[k].eq(getattr(self, k)) for k in s1]
        # a+1: product.
        prod_bits = self.value_bits + self.weight_bits
        s2 = {k: stage(f"s2_{k}", s1[k].shape()) for k in ("valid", "first", "last", "naddr", "baddr",
                                                            "pool_first", "pool_last")}
        prod = stage("s2_prod", signed(prod_bits))
        weight = Mux(self.unit_weight, 1, w_rd.data)
        m.d.sync += [s2[k].eq(s1[k]) for k in s2]
        m.d.sync += prod.eq(Mux(s1["null"], 0, s1["value"] * weight))
        # a+2: accumulate; a group's sum leaves on its last token.
        acc = stage("acc", signed(self.acc_bits))
        acc_next = Signal(signed(self.acc_bits))
        m.d.comb += acc_next.eq(Mux(s2["first"], 0, acc) + prod)
        with m.If(s2["valid"]):
            m.d.sync += acc.eq(acc_next)
        s3 = {k: stage(f"s3_{k}", s2[k].shape()) for k in ("naddr", "baddr", "pool_first", "pool_last")}
        s3_valid, s3_sum = stage("s3_valid"), stage("s3_sum", signed(self.acc_bits))
        m.d.sync += [s3[k].eq(s2[k]) for k in s3]
        m.d.sync += [s3_valid.eq(s2["valid"] & s2["last"]), s3_sum.eq(acc_next)]
        # a+3: membrane, bias and cache reads.
        m.d.comb += [v_rd.addr.eq(Mux(self.ext_en, self.ext_addr, s3["naddr"])), b_rd.addr.eq(s3["baddr"]),
                     self.mem_data.eq(v_rd.data)]
        s4 = {k: stage(f"s4_{k}", s3[k].shape()) for k in ("naddr", "pool_first", "pool_last")}
        s4_valid, s4_sum = stage("s4_valid"), stage("s4_sum", signed(self.acc_bits))
        m.d.sync += [s4[k].eq(s3[k]) for k in s4] + [s4_valid.eq(s3_valid), s4_sum.eq(s3_sum)]
        # a+4: I = S + b (or the cached I); U = V + I.
        current = Signal(signed(self.v_bits))
        m.d.comb += current.eq(s4_sum + Mux(self.use_bias, b_rd.data, 0))
        if self.cache_depth:
            cram = Memory(shape=signed(self.cache_bits), depth=self.cache_depth, init=[])
            m.submodules.cram = cram
            c_rd, c_wr = cram.read_port(), cram.write_port()
            m.d.comb += [c_rd.addr.eq(s3["naddr"]), c_wr.addr.eq(s4["naddr"]), c_wr.data.eq(current),
                         c_wr.en.eq(s4_valid & self.write_cache)]
            current = Mux(self.use_cache, c_rd.data, current)
        s5 = {k: stage(f"s5_{k}", s4[k].shape()) for k in s4}
        s5_valid, u = stage("s5_valid"), stage("s5_u", signed(self.v_bits))
        m.d.sync += [s5[k].eq(s4[k]) for k in s4] + [s5_valid.eq(s4_valid)]
        m.d.sync += u.eq(Mux(self.t0, self.v_init, v_rd.data) + current)
        # a+5: saturate.
        s6 = {k: stage(f"s6_{k}", s5[k].shape()) for k in s5}
        s6_valid, vsat = stage("s6_valid"), stage("s6_v", signed(self.v_bits))
        m.d.sync += [s6[k].eq(s5[k]) for k in s5] + [s6_valid.eq(s5_valid)]
        m.d.sync += vsat.eq(Mux(u < self.lo, self.lo, Mux(u > self.hi, self.hi, u)))
        # a+6 ...: fire; the tags ride alongside.
        m.d.comb += [fire.valid_in.eq(s6_valid), fire.v_in.eq(vsat), fire.threshold.eq(self.threshold),
                     fire.burst.eq(self.burst)]
        tags = s6
        for j in range(fire.latency):
            nxt = {k: stage(f"f{j}_{k}", tags[k].shape()) for k in tags}
            m.d.sync += [nxt[k].eq(tags[k]) for k in tags]
            tags = nxt
        # write-back.
        m.d.comb += [v_wr.addr.eq(tags["naddr"]), v_wr.data.eq(fire.v_out),
                     v_wr.en.eq(fire.valid_out & ~self.pool_out)]
        spike = Signal(signed(self.value_bits))
        m.d.comb += spike.eq(Mux(self.pool_out, fire.v_out, fire.k_out))
        pacc = stage("pool_acc", signed(self.value_bits))
        pacc_next = Signal(signed(self.value_bits))
        m.d.comb += pacc_next.eq(Mux(tags["pool_first"], spike, pacc + spike))
        with m.If(fire.valid_out):
            m.d.sync += pacc.eq(pacc_next)
        m.d.comb += [self.out_valid.eq(fire.valid_out & (~self.fused | tags["pool_last"])),
                     self.out_value.eq(Mux(self.fused, pacc_next, spike))]
        return m
