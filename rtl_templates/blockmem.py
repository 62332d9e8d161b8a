r"""A memory split into block-RAM-sized pieces, each with its own output register.

Synthesis maps a memory deeper than one block RAM to several blocks and a
multiplexer on their outputs. A block RAM's output is unregistered (Yosys
does not use the ECP5 ``DP16KD`` output register), so the block's
clock-to-out (5.8 ns on ECP5), the routing between the blocks and the
multiplexer all land on one path: it set the clock of every demo-size
build (``benchmarks/results/fmax_log.md``, row 10).

:class:`BlockedMemory` splits the memory itself into pieces of
:func:`block_words` words, registers each piece's read data, and selects
among the registers with a registered piece index, so the block output
meets only a register and the multiplexer starts from registers:

.. math::

    \text{addr at cycle } c \;\rightarrow\; \text{block}_i
    \text{ read at } c + 1 \;\rightarrow\; q_i \text{ at } c + 2
    \;\rightarrow\; \mathtt{read\_data} = q_{sel} \text{ (combinational, cycle } c + 2)

The caller registers ``read_data`` (its own pipeline stage). The pieces
have the geometry of an 18-kbit block (ECP5 ``DP16KD``, Xilinx ``RAMB18``):
2048 words of 9 bits, 1024 of 18, and so on. On iCE40 (4-kbit blocks) a
piece is several blocks, whose own mux Yosys builds, as before. A ROM's
last piece, when it is under a quarter block, stays in logic
(:func:`tail_in_logic`) and is read in the same two cycles: sub-ROMs of
:data:`LOGIC_ROM_WORDS` words into registers, then the addressed one into
``q_i`` (as one ROM it was seven LUT levels, the MLP's critical path).

On ECP5 the block has an output register of its own (``DP16KD``
``REGMODE = "OUTREG"``, clock-to-out about 1 ns instead of 5.8 ns), which
Yosys's memory mapping never uses. Elaborated for an ECP5 platform, a piece
that Yosys puts in block RAM (:func:`hwgen.memplace.ecp5_output_register`)
is named ``outreg_piece<i>``, keeps no register of ours (``q_i`` is the
block's data), and ``hwgen build`` switches its blocks' output registers on
after synthesis (:func:`hwgen.build.outreg_script`, which also checks the
count): the same register, the same latency. Simulation (no platform) and
other families keep ``q_i``.
"""
from __future__ import annotations

from enum import Enum

from amaranth import Array, Module, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwgen.boards import Family
from hwgen.memplace import ASPECTS, ecp5_output_register

#: Bits of the block RAM a piece is sized for (18 kbit, data + parity).
BLOCK_BITS = 18 * 1024


def block_words(width: int) -> int:
    """Words of one piece of a ``width``-bit memory: the depth of the 18-kbit
    block's narrowest aspect that holds ``width`` bits (``2048`` for 8 or 9
    bits, ``1024`` for 10 to 18, ``512`` above 18: wider words take blocks
    side by side)."""
    fitting = [depth for depth, aspect in ASPECTS[Family.ECP5] if width <= aspect]
    return max(fitting) if fitting else 512


def pieces(depth: int, words: int) -> list[int]:
    """Depths of the pieces of a ``depth``-word memory cut every ``words`` words."""
    depth = max(1, depth)
    return [min(words, depth - start) for start in range(0, depth, words)]


def tail_in_logic(sizes: list[int], words: int, rom: bool) -> bool:
    """Whether a ROM's last piece goes to logic (``rom_style = "logic"``): a tail of at
    most a quarter block after full pieces, as Yosys placed it when it split the
    whole ROM itself (a block RAM for a few hundred words would cost a block)."""
    return rom and len(sizes) > 1 and sizes[-1] <= words // 4


#: Words of one sub-ROM of a ROM tail in logic (a 6-input function per bit: one
#: ECP5 slice pair, two iCE40 LUT levels).
LOGIC_ROM_WORDS = 64

#: Name prefix of the pieces that use the ECP5 block's output register: the build
#: selects their ``DP16KD`` cells by it (:func:`hwgen.build.outreg_script`).
OUTREG_PREFIX = "outreg_"


def bank_block_registers(depth: int, width: int, distributed: bool) -> int:
    """ECP5 ``DP16KD`` cells of a spike-buffer bank (``rtl_templates/top.py``) that use the
    block's own output register: its blocks when Yosys puts the bank in block RAM one
    block deep (so no multiplexer of Yosys's follows the blocks), else 0 (the bank keeps
    a register of ours, ``bank_q``)."""
    if distributed or depth > block_words(width):
        return 0
    return ecp5_output_register(depth, width, rom=False)


class Piece(Enum):
    """What one piece of a :class:`BlockedMemory` becomes."""

    #: a memory (block or LUT RAM) and a register of ours on its output
    REGISTER = "register"
    #: an ECP5 block RAM whose own output register ``hwgen build`` switches on
    BLOCK_REGISTER = "block register"
    #: a ROM tail in logic: sub-ROMs, their registers, the output register
    LOGIC = "logic"


def piece_kinds(sizes: list[int], words: int, width: int, rom: bool, ecp5: bool) -> list[Piece]:
    """:class:`Piece` of each piece of a ``width``-bit memory cut into ``sizes``
    (pieces of ``words`` words), elaborated for ECP5 or not: the one rule the RTL,
    the build's cell count and the estimator's register count follow."""
    tail = tail_in_logic(sizes, words, rom)
    return [Piece.LOGIC if tail and i == len(sizes) - 1
            else Piece.BLOCK_REGISTER if ecp5 and ecp5_output_register(size, width, rom)
            else Piece.REGISTER for i, size in enumerate(sizes)]


class BlockedMemory(wiring.Component):
    """A memory of ``depth`` words in pieces of ``words`` words, read latency :attr:`latency`.

    Parameters
    ----------
    shape : ShapeLike
        The word's shape.
    depth : int
        Words.
    init : list of int
        Initial contents (a ROM's words); ``[]`` for zeros.
    words : int
        Words per piece, a power of two (:func:`block_words` of the width, or
        smaller in tests).
    writable : bool
        With a write port (``write_addr``, ``write_data``, ``write_en``).

    Members
    -------
    read_addr : In
        Address, sampled at the end of its cycle.
    read_data : Out
        The word :attr:`latency` cycles after its address (combinational from
        the pieces' output registers).
    write_addr, write_data, write_en : In
        Writable memories only: one word written at the end of the cycle.
    """

    def __init__(self, shape, depth: int, *, init=(), words: int, writable: bool = False,
                 logic_words: int = LOGIC_ROM_WORDS):
        for name, value in (("words", words), ("logic_words", logic_words)):
            if value < 1 or value & (value - 1):
                raise ValueError(f"{name} must be a power of two, got {value}")
        self.shape, self.depth, self.init = shape, max(1, depth), [int(v) for v in init]
        self.words, self.writable, self.logic_words = words, writable, logic_words
        self.sizes = pieces(self.depth, words)
        ports = {"read_addr": In(range(self.depth)), "read_data": Out(shape)}
        if writable:
            ports.update(write_addr=In(range(self.depth)), write_data=In(shape), write_en=In(1))
        super().__init__(ports)

    @property
    def latency(self) -> int:
        """Cycles from ``read_addr`` to ``read_data``: 2 (the block's read, its output register)."""
        return 2

    def elaborate(self, platform):
        m = Module()
        low = (self.words - 1).bit_length() if len(self.sizes) > 1 else len(self.read_addr)
        outs = []
        kinds = piece_kinds(self.sizes, self.words, Shape.cast(self.shape).width, rom=not self.writable,
                            ecp5=getattr(platform, "family", None) == "ecp5")
        for i, (size, kind) in enumerate(zip(self.sizes, kinds)):
            if kind is Piece.LOGIC:
                outs.append(self._logic_piece(m, i, size))
                continue
            in_block_register = kind is Piece.BLOCK_REGISTER
            mem = Memory(shape=self.shape, depth=size, init=self.init[i * self.words:i * self.words + size],
                         attrs={"ram_style": "block"} if in_block_register else {})
            m.submodules[f"{OUTREG_PREFIX if in_block_register else ''}piece{i}"] = mem
            rd = mem.read_port()
            m.d.comb += rd.addr.eq(self.read_addr[:low])
            q = Signal(self.shape, name=f"q{i}")
            if in_block_register:       # the block's own output register (set after synthesis)
                m.d.comb += q.eq(rd.data)
            else:
                m.d.sync += q.eq(rd.data)
            outs.append(q)
            if self.writable:
                wr = mem.write_port()
                here = (self.write_addr[low:] == i) if len(self.sizes) > 1 else 1
                m.d.comb += [wr.addr.eq(self.write_addr[:low]), wr.data.eq(self.write_data),
                             wr.en.eq(self.write_en & here)]
        if len(outs) == 1:
            m.d.comb += self.read_data.eq(outs[0])
        else:
            # the piece index rides along with the read: registered twice, like the data
            sel_read, sel = Signal(range(len(outs)), name="sel_read"), Signal(range(len(outs)), name="sel")
            m.d.sync += [sel_read.eq(self.read_addr[low:]), sel.eq(sel_read)]
            m.d.comb += self.read_data.eq(Array(outs)[sel])
        return m

    def _logic_piece(self, m: Module, i: int, size: int) -> Signal:
        """A ROM tail in logic, read in two stages like a block: sub-ROMs of
        :attr:`logic_words` words (a few LUT levels each) into registers at
        :math:`c + 1`, then the addressed one into ``q_i`` at :math:`c + 2`."""
        low = (self.words - 1).bit_length()
        sub_low = (self.logic_words - 1).bit_length()
        base = i * self.words
        subs = []
        for j, n in enumerate(pieces(size, self.logic_words)):
            start = base + j * self.logic_words
            rom = Memory(shape=self.shape, depth=n, init=self.init[start:start + n], attrs={"rom_style": "logic"})
            m.submodules[f"piece{i}_{j}"] = rom
            rd = rom.read_port(domain="comb")
            m.d.comb += rd.addr.eq(self.read_addr[:sub_low])
            sub = Signal(self.shape, name=f"q{i}_{j}")
            m.d.sync += sub.eq(rd.data)
            subs.append(sub)
        q = Signal(self.shape, name=f"q{i}")
        if len(subs) == 1:
            m.d.sync += q.eq(subs[0])
        else:
            sub_sel = Signal(range(len(subs)), name=f"sub_sel{i}")
            m.d.sync += [sub_sel.eq(self.read_addr[sub_low:low]), q.eq(Array(subs)[sub_sel])]
        return q
