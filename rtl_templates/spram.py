r"""Single-port RAMs: iCE40 ``SB_SPRAM256KA`` grids and a write-buffered single-port RAM.

The UP5K's four SPRAMs (16 K × 16 each, one port, no initial contents)
hold 1 Mbit against 120 kbit of EBR. :func:`spram_array` builds a grid of
them with the read latency of every other hwgen memory (2: the address at
cycle :math:`c`, the SPRAM's data into a register at :math:`c + 1`, the
registers, row-selected, at :math:`c + 2`).

:class:`SinglePortRam` serves a lane's membranes from one port. A group
reads its membrane once (on its last token) and writes it back once,
``latency`` cycles later; with back-to-back groups the two meet. The read
wins; the write waits in a one-entry register and goes in the next cycle,
which is free when every group has at least two tokens (reads, and so
writes, are then at least two cycles apart). No neuron is visited twice in
a pass and a pass drains before the next, so no read needs the waiting
word.
"""
from __future__ import annotations

from amaranth import Array, Cat, ClockSignal, Const, Instance, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .blockmem import BlockedMemory

#: Geometry of one iCE40 SPRAM (``SB_SPRAM256KA``).
SPRAM_WORDS, SPRAM_BITS = 16384, 16


def is_ice40(platform) -> bool:
    """Whether ``platform`` is an iCE40 (amaranth-boards spells the family ``"iCE40"``)."""
    return str(getattr(platform, "family", "")).lower() == "ice40"


def spram_grid(width: int, depth: int) -> tuple[int, int]:
    """``(columns, rows)`` of SPRAMs holding ``depth`` words of ``width`` bits."""
    return -(-width // SPRAM_BITS), -(-max(1, depth) // SPRAM_WORDS)


def spram_array(m: Module, name: str, addr: Signal, write_en, data_in, width: int, depth: int):
    """A grid of ``SB_SPRAM256KA`` at ``addr`` (written with ``data_in`` when ``write_en``);
    returns the read data, :data:`SPRAM_WORDS`-row selected, two cycles after ``addr``."""
    cols, rows = spram_grid(width, depth)
    low = (SPRAM_WORDS - 1).bit_length()
    data = Cat(data_in, Const(0, cols * SPRAM_BITS - width))
    full = Signal(max(len(addr), low + 1), name=f"{name}_addr")
    m.d.comb += full.eq(addr)
    addr, row_of = full[:low], full[low:]
    outs = []
    for r in range(rows):
        here = (row_of == r) if rows > 1 else Const(1)
        row_q = []
        for c in range(cols):
            dout, q = Signal(SPRAM_BITS, name=f"{name}{r}_{c}_dout"), Signal(SPRAM_BITS, name=f"{name}{r}_{c}_q")
            m.submodules[f"{name}{r}_{c}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=addr, i_DATAIN=data[c * SPRAM_BITS:(c + 1) * SPRAM_BITS],
                i_MASKWREN=Const(0b1111, 4), i_WREN=write_en & here, i_CHIPSELECT=Const(1),
                i_CLOCK=ClockSignal("sync"), i_STANDBY=Const(0), i_SLEEP=Const(0), i_POWEROFF=Const(1),
                o_DATAOUT=dout)
            m.d.sync += q.eq(dout)
            row_q.append(q)
        outs.append(Cat(*row_q)[:width])
    if rows == 1:
        return outs[0]
    sel_read, sel = Signal(range(rows), name=f"{name}_row_read"), Signal(range(rows), name=f"{name}_row")
    m.d.sync += [sel_read.eq(row_of), sel.eq(sel_read)]
    return Array(outs)[sel]


class SinglePortRam(wiring.Component):
    """``depth`` words of ``shape`` behind one port, reads first, a colliding write one cycle later.

    Elaborated for iCE40, the word's full 16-bit columns are SPRAMs
    (:func:`spram_array`) and the rest (``width mod 16`` bits) an EBR
    memory on the same address; elsewhere one :class:`.blockmem.BlockedMemory`
    whose read and write share the address (so simulation has the one port
    too).

    The port (address, data, write enable) is a register: a request at
    cycle :math:`c` uses the memory at :math:`c + 1`, so the memory's
    address and enables come straight from flip-flops (the iCE40 SPRAM's
    address setup is long).

    Members
    -------
    read_addr, read_en : In
        Read ``read_addr`` (a read request has the port).
    read_data : Out
        The word :attr:`latency` cycles after a read request.
    write_addr, write_data, write_en : In
        A write request: it takes the port if no read does, else it waits
        in a register and takes it at the next request without a read.
    lost : Out(1)
        Sticky: a write arrived while one was waiting and a read held the
        port (the waiting write was overwritten: groups of one token, which
        the plan rules out).
    """

    def __init__(self, shape, depth: int):
        self.shape, self.depth = Shape.cast(shape), max(1, depth)
        super().__init__({"read_addr": In(range(self.depth)), "read_en": In(1), "read_data": Out(shape),
                          "write_addr": In(range(self.depth)), "write_data": In(shape), "write_en": In(1),
                          "lost": Out(1)})

    @property
    def latency(self) -> int:
        """Cycles from a read request to ``read_data``: 3 (the port register, then the memory's 2)."""
        return 3

    def elaborate(self, platform):
        m = Module()
        width = self.shape.width
        wait_addr, wait_data = Signal.like(self.write_addr), Signal(width)
        waiting = Signal()
        # The port, a register: a read, else the waiting write, else a new write.
        addr, data = Signal.like(self.read_addr, name="port_addr"), Signal(width, name="port_data")
        port_write = Signal(name="port_write")
        m.d.sync += [addr.eq(Mux(self.read_en, self.read_addr, Mux(waiting, wait_addr, self.write_addr))),
                     data.eq(Mux(waiting, wait_data, self.write_data)),
                     port_write.eq(~self.read_en & (waiting | self.write_en))]
        new_waits = self.write_en & (self.read_en | waiting)
        with m.If(new_waits):
            m.d.sync += [wait_addr.eq(self.write_addr), wait_data.eq(self.write_data)]
        m.d.sync += waiting.eq(new_waits | (waiting & self.read_en))
        with m.If(waiting & self.write_en & self.read_en):
            m.d.sync += self.lost.eq(1)
        if is_ice40(platform):
            m.d.comb += self.read_data.eq(self._ice40(m, addr, data, port_write))
        else:
            m.submodules.mem = mem = BlockedMemory(width, self.depth, words=SPRAM_WORDS, writable=True)
            m.d.comb += [mem.read_addr.eq(addr), mem.write_addr.eq(addr), mem.write_data.eq(data),
                         mem.write_en.eq(port_write), self.read_data.eq(mem.read_data)]
        return m

    def _ice40(self, m: Module, addr, data, write_en):
        """SPRAM columns for the full 16-bit slices, an EBR memory for the rest."""
        width = self.shape.width
        spram_bits = width // SPRAM_BITS * SPRAM_BITS
        parts = []
        if spram_bits:
            parts.append(spram_array(m, "spram", addr, write_en, data[:spram_bits], spram_bits, self.depth))
        if width > spram_bits:
            rest = width - spram_bits
            m.submodules.rest = mem = Memory(shape=rest, depth=self.depth, init=[])
            rd, wr = mem.read_port(transparent_for=()), mem.write_port()
            q = Signal(rest, name="rest_q")
            m.d.comb += [rd.addr.eq(addr), wr.addr.eq(addr), wr.data.eq(data[spram_bits:]), wr.en.eq(write_en)]
            m.d.sync += q.eq(rd.data)
            parts.append(q)
        return Cat(*parts)
