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

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .blockmem import BlockedMemory
from .spram import SPRAM_WORDS, is_ice40, spram_array


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
        if is_ice40(platform):
            addr = Mux(self.write_en, counter, self.read_addr)
            m.d.comb += self.read_data.eq(spram_array(m, "spram", addr, self.write_en, self.write_data,
                                                      self.width, self.depth))
        else:
            m.submodules.mem = mem = BlockedMemory(self.width, self.depth, words=SPRAM_WORDS, writable=True)
            m.d.comb += [mem.write_addr.eq(counter), mem.write_data.eq(self.write_data),
                         mem.write_en.eq(self.write_en), mem.read_addr.eq(self.read_addr),
                         self.read_data.eq(mem.read_data)]
        return m


def next_address(counter: Signal, depth: int):
    """The load counter after a write: ``counter + 1``, or 0 after the last word."""
    return Mux(counter == depth - 1, 0, counter + 1)
