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
:math:`a+1` each weight-ROM piece's output registered
(:class:`.blockmem.BlockedMemory`); :math:`a+2` the selected piece into the
weight register; :math:`a+3 \\ldots a+5` product (three-stage shift-add,
:mod:`.multiply`) and bias read; :math:`a+6` accumulate (from the bias, so a
group's last token leaves :math:`I = S + b`) and membrane and cache read;
:math:`a+7` their pieces' outputs registered; :math:`a+8` the selected words
registered; :math:`a+9` :math:`U = V + I`; :math:`a+10, a+11` saturate
(the range tests, then the choice); :math:`a+12 \\ldots` fire (``FireUnit.latency`` stages); then the
write-back cycle ``a + latency``. Every RAM and ROM output goes straight
into a register, and the multiplexer over a memory's block RAMs starts
from registers (block-RAM clock-to-out is most of a cycle on
ECP5). Groups stream back to back (a group may be a single token): the
fire and write-back of one group overlap the accumulation of the next, and
no neuron is visited twice in a pass, so the membrane read and its
write-back never alias. A fused sum-pool window (``pool_first`` ..
``pool_last`` over consecutive groups) is summed in a register and written
once.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .blockmem import BlockedMemory, block_words
from .fire import FireUnit
from .multiply import multiply
from .spram import SinglePortRam


class NeuronLane(wiring.Component):
    """A pipelined neuron lane (see the module docstring).

    Parameters
    ----------
    value_bits, weight_bits, acc_bits, mem_bits : int
        Signed widths of inputs, weights, partial sums/currents, membranes.
    max_burst : int
        :math:`\\Gamma_{max}` of the fire unit.
    weights, biases : list of int
        ROM contents (this lane's rows, every layer concatenated). ``weights =
        None``: no weight ROM; the weight comes in on ``weight`` (from a
        :class:`.weightbank.WeightBank`) two cycles after the token.
    mem_depth, cache_depth : int
        Membrane RAM and current-cache words (``cache_depth = 0``: no cache).
    fire_bits : int, optional
        Width of the fire unit's subtraction (``FireUnit.sub_bits``; default
        the membrane width).
    single_port : bool
        Membranes in a :class:`.spram.SinglePortRam` (read on a group's last
        token, written back when the port is free) instead of a dual-port
        :class:`.blockmem.BlockedMemory`; groups must have two tokens or more.
    piece_words : int, optional
        Words per memory piece (default :func:`.blockmem.block_words` of each
        memory's width; tests pass a few words to exercise the pieces).
    dsp : bool
        The product ``x * w`` for a DSP block (:func:`.multiply.multiply`;
        ``multipliers="dsp"``) instead of the shift-add tree.

    Members
    -------
    valid, first, last, null, value, waddr, baddr, naddr, pool_first, pool_last : In
        One token: input :math:`x`, weight and bias addresses, the membrane
        address of its group, and the fused-pool window flags.
    weight : In
        Instead of ``waddr`` when ``weights is None``: the token's weight, in
        the cycle :math:`a + 2` (the weight ROM's latency after the token).
    unit_weight, use_bias, use_cache, write_cache, t0, pool_out, fused, v_init,
    threshold, burst, lo, hi : In
        Pass parameters, constant during a pass and its drain. The
        saturation range ``[lo, hi]`` is a signed power-of-two range
        :math:`[-2^{b-1}, 2^{b-1} - 1]`.
    ext_en, ext_addr, mem_data : In, In, Out
        Membrane read port for the logit reader while the lane is idle
        (``mem_data`` is the word at ``ext_addr`` :attr:`ext_latency` cycles later).
    out_valid, out_value : Out
        The write-back: a spike count (or pool sum) for the spike buffer.
    """

    def __init__(self, *, value_bits, weight_bits, acc_bits, mem_bits, max_burst,
                 weights, biases, mem_depth, cache_depth=0, cache_bits=2, piece_words=None, fire_bits=None,
                 single_port=False, dsp=False):
        for name, bits in (("value_bits", value_bits), ("weight_bits", weight_bits),
                           ("acc_bits", acc_bits), ("mem_bits", mem_bits)):
            if bits < 2:
                raise ValueError(f"{name} must be >= 2, got {bits}")
        self.value_bits, self.weight_bits, self.acc_bits = value_bits, weight_bits, acc_bits
        self.mem_bits, self.max_burst, self.cache_bits = mem_bits, max_burst, cache_bits
        self.external_weight = weights is None
        self.weights = [0] if weights is None else [int(w) for w in weights] or [0]
        self.biases = [int(b) for b in biases] or [0]
        self.mem_depth, self.cache_depth = max(1, mem_depth), cache_depth
        self.piece_words, self.fire_bits, self.single_port = piece_words, fire_bits, single_port
        self.dsp = dsp
        self.v_bits = max(mem_bits, acc_bits, cache_bits) + 2
        weight_port = {"weight": In(signed(weight_bits))} if self.external_weight \
            else {"waddr": In(range(len(self.weights)))}
        super().__init__({
            "valid": In(1), "first": In(1), "last": In(1), "null": In(1),
            "value": In(signed(value_bits)), **weight_port,
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
        return FireUnit.latency_for(self.max_burst)

    @staticmethod
    def latency_for(max_burst: int) -> int:
        """:attr:`latency` of a lane whose fire unit has ``max_burst`` stages."""
        return 12 + FireUnit.latency_for(max_burst)

    @property
    def ext_latency(self) -> int:
        """Cycles from ``ext_addr`` to ``mem_data``: 3, or 4 with single-port membranes (the port register)."""
        return 4 if self.single_port else 3

    @property
    def latency(self) -> int:
        """Cycles from a group's ``last`` token to its write-back: ``12 + FireUnit.latency``."""
        return self.latency_for(self.max_burst)

    def _words(self, width: int) -> int:
        """Words per memory piece (:func:`.blockmem.block_words`, or ``piece_words`` when given)."""
        return self.piece_words or block_words(width)

    def elaborate(self, platform):
        m = Module()
        if self.external_weight:
            weight_in = self.weight
        else:
            m.submodules.wrom = wrom = BlockedMemory(signed(self.weight_bits), len(self.weights),
                                                     init=self.weights, words=self._words(self.weight_bits))
            m.d.comb += wrom.read_addr.eq(self.waddr)
            weight_in = wrom.read_data
        if self.single_port:
            m.submodules.vram = vram = SinglePortRam(signed(self.mem_bits), self.mem_depth)
        else:
            m.submodules.vram = vram = BlockedMemory(signed(self.mem_bits), self.mem_depth,
                                                     words=self._words(self.mem_bits), writable=True)
        brom = Memory(shape=signed(self.acc_bits), depth=len(self.biases), init=self.biases)
        m.submodules.brom = brom
        b_rd = brom.read_port()
        m.submodules.fire = fire = FireUnit(self.v_bits, self.max_burst, sub_bits=self.fire_bits)

        def delay(tags, stage, keys=None):
            """Register ``tags`` (or its ``keys``) into stage ``stage``."""
            out = {k: Signal(tags[k].shape(), name=f"{stage}_{k}") for k in (keys or tags)}
            m.d.sync += [out[k].eq(tags[k]) for k in out]
            return out

        # a: weight read; token registered.
        s1 = delay({k: getattr(self, k) for k in ("valid", "first", "last", "null", "value", "naddr", "baddr",
                                                   "pool_first", "pool_last")}, "s1")
        # a+1: the ROM pieces' outputs into their registers (a null token's value is 0).
        s2 = delay(s1, "s2", ("valid", "first", "last", "naddr", "baddr", "pool_first", "pool_last"))
        s2.update(delay({"value": Mux(s1["null"], 0, s1["value"])}, "s2"))
        # a+2: the selected piece into the weight register.
        s3 = delay(s2, "s3")
        weight = Signal(signed(self.weight_bits), name="s3_weight")
        m.d.sync += weight.eq(Mux(self.unit_weight, 1, weight_in))
        # a+3 .. a+5: product (three stages); bias read at a+4, into a register at a+5.
        prod = multiply(m, s3["value"], weight, "s4", dsp=self.dsp)
        s4 = delay(s3, "s4", ("valid", "first", "last", "naddr", "baddr", "pool_first", "pool_last"))
        m.d.comb += b_rd.addr.eq(s4["baddr"])
        s5 = delay(s4, "s5", ("valid", "first", "last", "naddr", "pool_first", "pool_last"))
        s6 = delay(s5, "s6")
        bias = Signal(signed(self.acc_bits), name="s6_bias")
        m.d.sync += bias.eq(b_rd.data)
        # a+6: accumulate from the bias; a group's current I = S + b leaves on its last token.
        # The membrane (and cache) read starts here too: its data arrives with the current.
        acc, acc_next = Signal(signed(self.acc_bits), name="acc"), Signal(signed(self.acc_bits))
        m.d.comb += acc_next.eq(Mux(s6["first"], Mux(self.use_bias, bias, 0), acc) + prod)
        with m.If(s6["valid"]):
            m.d.sync += acc.eq(acc_next)
        if self.single_port:    # a request a cycle ahead (the port is a register); only a group's
            m.d.comb += [vram.read_addr.eq(Mux(self.ext_en, self.ext_addr, s5["naddr"])),  # last token reads
                         vram.read_en.eq(self.ext_en | (s5["valid"] & s5["last"]))]
        else:
            m.d.comb += vram.read_addr.eq(Mux(self.ext_en, self.ext_addr, s6["naddr"]))
        s7 = delay(s6, "s7", ("naddr", "pool_first", "pool_last"))
        s7.update(delay({"valid": s6["valid"] & s6["last"], "sum": acc_next}, "s7"))
        # a+8: the membrane (and cache) words into registers; a+9: U = V + I (or the cached I).
        s8 = delay(s7, "s8")
        s9 = delay(s8, "s9")
        # U's operands are chosen as they are registered, so U is one adder from registers. The
        # membrane register is also the logit reader's port (ext_en: the word itself).
        v_or_init = Signal(signed(self.mem_bits), name="s9_v")
        m.d.sync += v_or_init.eq(Mux(self.t0 & ~self.ext_en, self.v_init, vram.read_data))
        m.d.comb += self.mem_data.eq(v_or_init)
        current = Signal(signed(max(self.acc_bits, self.cache_bits)), name="s9_current")
        if self.cache_depth:
            m.submodules.cram = cram = BlockedMemory(signed(self.cache_bits), self.cache_depth,
                                                     words=self._words(self.cache_bits), writable=True)
            m.d.comb += [cram.read_addr.eq(s6["naddr"]), cram.write_addr.eq(s9["naddr"]),
                         cram.write_data.eq(s9["sum"]), cram.write_en.eq(s9["valid"] & self.write_cache)]
            m.d.sync += current.eq(Mux(self.use_cache, cram.read_data, s8["sum"]))
        else:
            m.d.sync += current.eq(s8["sum"])
        s10 = delay(s9, "s10", ("valid", "naddr", "pool_first", "pool_last"))
        u = Signal(signed(self.v_bits), name="s10_u")
        m.d.sync += u.eq(v_or_init + current)
        # a+10, a+11: saturate. [lo, hi] = [-2^(b-1), 2^(b-1) - 1]: u fits when its bits from b - 1
        # up equal its sign, so no comparator: lo is the mask of those bits and hi its complement.
        # The two tests are registered (a+10), the choice made from them (a+11).
        s11 = delay(s10, "s11")
        neg = u[-1]
        over, under = Signal(name="s11_over"), Signal(name="s11_under")
        u11 = Signal.like(u, name="s11_u")
        m.d.sync += [over.eq(~neg & ((u & self.lo) != 0)), under.eq(neg & ((u | self.hi) != -1)), u11.eq(u)]
        s12 = delay(s11, "s12")
        vsat = Signal(signed(self.v_bits), name="s12_v")
        m.d.sync += vsat.eq(Mux(over, self.hi, Mux(under, self.lo, u11)))
        # a+12 ...: fire; the tags ride alongside.
        m.d.comb += [fire.valid_in.eq(s12["valid"]), fire.v_in.eq(vsat), fire.threshold.eq(self.threshold),
                     fire.burst.eq(self.burst)]
        tags = {k: s12[k] for k in ("naddr", "pool_first", "pool_last")}
        for j in range(fire.latency):
            tags = delay(tags, f"f{j}")
        # write-back.
        m.d.comb += [vram.write_addr.eq(tags["naddr"]), vram.write_data.eq(fire.v_out),
                     vram.write_en.eq(fire.valid_out & ~self.pool_out)]
        spike = Signal(signed(self.value_bits))
        m.d.comb += spike.eq(Mux(self.pool_out, fire.v_out, fire.k_out))
        pacc = Signal(signed(self.value_bits), name="pool_acc")
        pacc_next = Signal(signed(self.value_bits))
        m.d.comb += pacc_next.eq(Mux(tags["pool_first"], spike, pacc + spike))
        with m.If(fire.valid_out):
            m.d.sync += pacc.eq(pacc_next)
        m.d.comb += [self.out_valid.eq(fire.valid_out & (~self.fused | tags["pool_last"])),
                     self.out_value.eq(Mux(self.fused, pacc_next, spike))]
        return m
