r"""A spike-buffer bank in LUT RAM, read through pieces with registered outputs.

A LUT-RAM bank of :math:`D` words is :math:`\lceil D/16 \rceil` ECP5
``DPR16X4`` cells per 4 bits, and their asynchronous reads meet in one
multiplexer: for the demo CNN's 1 200-word banks, six levels between the
read address and the accelerator's ``bank_q`` register (9.3 ns of the
107 MHz design, ``benchmarks/results/fmax_log.md`` row 39).

:class:`LutRamBank` cuts the bank into pieces of :data:`PIECE_WORDS` words,
each a memory of its own, and registers each piece's read data (``q_i``)
and the piece index, so the cells' read multiplexer ends at a register and
the choice among the pieces starts from registers:

.. math::

    \text{addr at } c \;\rightarrow\; \text{addr register at } c + 1
    \;\rightarrow\; q_i \text{ at } c + 2 \;\rightarrow\;
    \mathtt{read\_q} = q_{sel} \text{ (combinational, cycle } c + 2)

``read_q`` replaces the accelerator's ``bank_q`` register: the word reaches
the token pipeline in the same cycle as from a block RAM, so no cycle
changes. ``read_data`` is the whole bank's asynchronous read a cycle after
the address (one multiplexer over the pieces' reads, for the event
scanner, whose next address depends on it).

A read and a write of the same word in one cycle read the new word; the
passes never do that (a pass reads its source buffer and writes another).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .blockmem import pieces

#: Words of one piece: 16 ``DPR16X4`` cells, a 16-to-1 read multiplexer (two LUT levels on ECP5).
PIECE_WORDS = 256


class LutRamBank(wiring.Component):
    """A writable LUT-RAM memory of ``depth`` words (see the module docstring).

    Parameters
    ----------
    shape : ShapeLike
        The word's shape.
    depth : int
        Words.
    attrs : dict
        Attributes of every piece's :class:`~amaranth.lib.memory.Memory`
        (``ram_style``).
    words : int, optional
        Words per piece, a power of two (default :data:`PIECE_WORDS`, read at construction).

    Members
    -------
    read_addr : In
        Address, sampled at the end of its cycle.
    read_data : Out
        The word a cycle after its address (combinational).
    read_q : Out
        The word two cycles after its address (combinational from the pieces' registers).
    write_addr, write_data, write_en : In
        One word written at the end of the cycle.
    """

    def __init__(self, shape, depth: int, *, attrs: dict, words: int | None = None):
        words = PIECE_WORDS if words is None else words
        if words < 1 or words & (words - 1):
            raise ValueError(f"words must be a power of two, got {words}")
        self.shape, self.depth, self.attrs, self.words = shape, max(1, depth), dict(attrs), words
        self.sizes = pieces(self.depth, words)
        super().__init__({"read_addr": In(range(self.depth)), "read_data": Out(shape), "read_q": Out(shape),
                          "write_addr": In(range(self.depth)), "write_data": In(shape), "write_en": In(1)})

    @property
    def latency(self) -> int:
        """Cycles from ``read_addr`` to ``read_q``."""
        return 2

    def elaborate(self, platform):
        m = Module()
        addr = Signal.like(self.read_addr, name="raddr")
        m.d.sync += addr.eq(self.read_addr)
        low = (self.words - 1).bit_length() if len(self.sizes) > 1 else len(addr)
        reads, outs = [], []
        for i, size in enumerate(self.sizes):
            mem = Memory(shape=self.shape, depth=size, init=[], attrs=self.attrs)
            m.submodules[f"piece{i}"] = mem
            rd, wr = mem.read_port(domain="comb"), mem.write_port()
            here = (self.write_addr[low:] == i) if len(self.sizes) > 1 else 1
            m.d.comb += [rd.addr.eq(addr[:low]), wr.addr.eq(self.write_addr[:low]),
                         wr.data.eq(self.write_data), wr.en.eq(self.write_en & here)]
            q = Signal(self.shape, name=f"q{i}")
            m.d.sync += q.eq(rd.data)
            reads.append(rd.data)
            outs.append(q)
        if len(outs) == 1:
            m.d.comb += [self.read_data.eq(reads[0]), self.read_q.eq(outs[0])]
            return m
        sel = Signal(range(len(outs)), name="sel")
        m.d.sync += sel.eq(addr[low:])
        m.d.comb += [self.read_data.eq(Array(reads)[addr[low:]]), self.read_q.eq(Array(outs)[sel])]
        return m


@dataclass(frozen=True)
class BankRead:
    """A bank's read side as the accelerator uses it: ``addr`` in, ``data`` a cycle later,
    ``q`` two cycles later."""

    addr: Signal
    data: Signal
    q: Signal


@dataclass(frozen=True)
class BankWrite:
    """A bank's write side: ``addr``, ``data``, ``en``."""

    addr: Signal
    data: Signal
    en: Signal


def lutram_ports(bank: LutRamBank) -> tuple[BankRead, BankWrite]:
    """``bank``'s ports as the (read, write) pair of a memory's ports."""
    return (BankRead(bank.read_addr, bank.read_data, bank.read_q),
            BankWrite(bank.write_addr, bank.write_data, bank.write_en))
