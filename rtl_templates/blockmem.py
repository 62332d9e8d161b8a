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
piece is several blocks, whose own mux Yosys builds, as before.
"""
from __future__ import annotations

from amaranth import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

#: Bits of the block RAM a piece is sized for (18 kbit, data + parity).
BLOCK_BITS = 18 * 1024
#: Widths of the 18-kbit block's aspect ratios, narrowest first (depth = BLOCK_BITS // width, rounded down
#: to a power of two).
_ASPECT_WIDTHS = (1, 2, 4, 9, 18, 36)


def block_words(width: int) -> int:
    """Words of one piece of a ``width``-bit memory: the depth of the 18-kbit
    block's narrowest aspect that holds ``width`` bits (``2048`` for 8 or 9
    bits, ``1024`` for 10 to 18, ``512`` above 18: wider words take blocks
    side by side)."""
    for depth_log2, aspect in zip(range(14, 8, -1), _ASPECT_WIDTHS):
        if width <= aspect:
            return 1 << depth_log2
    return 512


def pieces(depth: int, words: int) -> list[int]:
    """Depths of the pieces of a ``depth``-word memory cut every ``words`` words."""
    depth = max(1, depth)
    return [min(words, depth - start) for start in range(0, depth, words)]


def tail_in_logic(sizes: list[int], words: int, rom: bool) -> bool:
    """Whether a ROM's last piece goes to logic (``rom_style = "logic"``): a tail of at
    most a quarter block after full pieces, as Yosys placed it when it split the
    whole ROM itself (a block RAM for a few hundred words would cost a block)."""
    return rom and len(sizes) > 1 and sizes[-1] <= words // 4


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

    def __init__(self, shape, depth: int, *, init=(), words: int, writable: bool = False):
        if words < 1 or words & (words - 1):
            raise ValueError(f"words must be a power of two, got {words}")
        self.shape, self.depth, self.init = shape, max(1, depth), [int(v) for v in init]
        self.words, self.writable = words, writable
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
        logic_tail = tail_in_logic(self.sizes, self.words, rom=not self.writable)
        for i, size in enumerate(self.sizes):
            in_logic = logic_tail and i == len(self.sizes) - 1
            mem = Memory(shape=self.shape, depth=size, init=self.init[i * self.words:i * self.words + size],
                         attrs={"rom_style": "logic"} if in_logic else {})
            m.submodules[f"piece{i}"] = mem
            rd = mem.read_port()
            m.d.comb += rd.addr.eq(self.read_addr[:low])
            q = Signal(self.shape, name=f"q{i}")
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
