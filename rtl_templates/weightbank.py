r"""All lanes' weights in one RAM written at run time (``AccelConfig.weights = "loaded"``).

The lanes read their weights at one shared address (the token's), so the
bank stores them side by side: word :math:`a` holds lane :math:`i`'s weight
:math:`a` in bits :math:`[i \cdot b_w, (i + 1) \cdot b_w)`, two's complement.
The host writes the words in address order through ``write_data`` /
``write_en`` (an address counter wraps to 0 after the last word, so every
complete load starts at word 0); the accelerator writes them only while idle.

Elaborated for an iCE40 platform the bank is a grid of ``SB_SPRAM256KA``
(16 K × 16 single-port RAMs, no initial contents: hence the load):
:math:`\lceil P b_w / 16 \rceil` columns by :math:`\lceil D / 16384 \rceil`
rows, addressed by the write counter while writing and by ``read_addr``
otherwise. Elsewhere (simulation, vendor export, ECP5) it is a
:class:`.blockmem.BlockedMemory` with a write port. Either way the read
latency is 2, the weight ROM's: the address at cycle :math:`c`, the RAM's
data at :math:`c + 1` into a register, ``read_data`` from the registers at
:math:`c + 2` (a row select registered twice, like the pieces' select).
"""
from __future__ import annotations

from amaranth import Array, Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .blockmem import BlockedMemory

#: Geometry of one iCE40 SPRAM (``SB_SPRAM256KA``).
SPRAM_WORDS, SPRAM_BITS = 16384, 16


def spram_grid(lanes: int, weight_bits: int, depth: int) -> tuple[int, int]:
    """``(columns, rows)`` of SPRAMs holding ``depth`` words of ``lanes * weight_bits`` bits."""
    return -(-lanes * weight_bits // SPRAM_BITS), -(-max(1, depth) // SPRAM_WORDS)


class WeightBank(wiring.Component):
    """``depth`` words of ``lanes`` weights of ``weight_bits`` bits, loaded at run time.

    Parameters
    ----------
    lanes, weight_bits, depth : int
        :math:`P`, :math:`b_w` and the words per lane.

    Members
    -------
    write_data : In(lanes * weight_bits)
        The next word of the load (lane ``i`` in bits ``i*b_w .. (i+1)*b_w - 1``).
    write_en : In(1)
        Write ``write_data`` at the load counter and step it (wrapping at ``depth``).
    read_addr : In(range(depth))
        Read address, sampled at the end of its cycle (not while ``write_en``).
    read_data : Out(lanes * weight_bits)
        The word :attr:`latency` cycles after its address.
    """

    def __init__(self, lanes: int, weight_bits: int, depth: int):
        self.lanes, self.weight_bits, self.depth = lanes, weight_bits, max(1, depth)
        self.width = lanes * weight_bits
        super().__init__({"write_data": In(self.width), "write_en": In(1),
                          "read_addr": In(range(self.depth)), "read_data": Out(self.width)})

    @property
    def latency(self) -> int:
        """Cycles from ``read_addr`` to ``read_data``: 2."""
        return 2

    def elaborate(self, platform):
        m = Module()
        counter = Signal(range(self.depth), name="load_addr")
        with m.If(self.write_en):
            m.d.sync += counter.eq(next_address(counter, self.depth))
        if str(getattr(platform, "family", "")).lower() == "ice40":     # amaranth-boards: "iCE40"
            self._spram(m, counter)
        else:
            m.submodules.mem = mem = BlockedMemory(self.width, self.depth, words=SPRAM_WORDS, writable=True)
            m.d.comb += [mem.write_addr.eq(counter), mem.write_data.eq(self.write_data),
                         mem.write_en.eq(self.write_en), mem.read_addr.eq(self.read_addr),
                         self.read_data.eq(mem.read_data)]
        return m

    def _spram(self, m: Module, counter: Signal) -> None:
        """The SPRAM grid: one shared address (the counter while writing), row-registered outputs."""
        cols, rows = spram_grid(self.lanes, self.weight_bits, self.depth)
        low = (SPRAM_WORDS - 1).bit_length()
        addr = Signal(max(len(self.read_addr), low + 1), name="spram_addr")
        m.d.comb += addr.eq(Mux(self.write_en, counter, self.read_addr))
        data_in = Cat(self.write_data, Const(0, cols * SPRAM_BITS - self.width))
        outs = []
        for r in range(rows):
            here = (addr[low:] == r) if rows > 1 else Const(1)
            row_q = []
            for c in range(cols):
                dout, q = Signal(SPRAM_BITS, name=f"spram{r}_{c}_dout"), Signal(SPRAM_BITS, name=f"spram{r}_{c}_q")
                m.submodules[f"spram{r}_{c}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=addr[:low], i_DATAIN=data_in[c * SPRAM_BITS:(c + 1) * SPRAM_BITS],
                    i_MASKWREN=Const(0b1111, 4), i_WREN=self.write_en & here, i_CHIPSELECT=Const(1),
                    i_CLOCK=ClockSignal("sync"), i_STANDBY=Const(0), i_SLEEP=Const(0), i_POWEROFF=Const(1),
                    o_DATAOUT=dout)
                m.d.sync += q.eq(dout)
                row_q.append(q)
            outs.append(Cat(*row_q)[:self.width])
        if rows == 1:
            m.d.comb += self.read_data.eq(outs[0])
            return
        sel_read, sel = Signal(range(rows), name="row_read"), Signal(range(rows), name="row")
        m.d.sync += [sel_read.eq(addr[low:]), sel.eq(sel_read)]
        m.d.comb += self.read_data.eq(Array(outs)[sel])


def next_address(counter: Signal, depth: int):
    """The load counter after a write: ``counter + 1``, or 0 after the last word."""
    return Mux(counter == depth - 1, 0, counter + 1)
