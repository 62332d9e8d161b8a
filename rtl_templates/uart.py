"""8N1 UART receiver and transmitter with byte streams.

Both count a fixed ``divisor`` of clock cycles per bit
(:math:`d = f_{clk} / baud`, rounded to the nearest integer); the receiver
samples mid-bit after a two-flop synchroniser and drops a byte whose stop
bit is low (a framing error, counted in ``errors``).
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


def divisor_for(clk_hz: float, baud: int) -> int:
    """Clock cycles per UART bit, :math:`\\mathrm{round}(f_{clk}/baud)`; at least 4."""
    d = round(clk_hz / baud)
    if d < 4:
        raise ValueError(f"baud {baud} is too fast for a {clk_hz / 1e6:g} MHz clock")
    return d


class UartRx(wiring.Component):
    """Receiver: ``rx`` pin in, one ``bytes`` beat per received byte.

    The stream has no back-pressure worth the name: a byte not taken before
    the next one arrives is overwritten (the consumer is faster than a UART).
    """

    rx: In(1, init=1)
    bytes: Out(stream.Signature(8))
    errors: Out(8)

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m, d = Module(), self.divisor
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(d + d // 2 + 1))
        bit = Signal(range(9))
        shift = Signal(8)
        with m.If(self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += [timer.eq(d + d // 2 - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(d - 1), bit.eq(bit + 1)]
                    with m.If(bit == 8):
                        with m.If(rx):
                            m.d.sync += [self.bytes.payload.eq(shift), self.bytes.valid.eq(1)]
                        with m.Else():
                            m.d.sync += self.errors.eq(self.errors + 1)
                        m.next = "STOP"
                    with m.Else():
                        m.d.sync += shift.eq(Cat(shift[1:], rx))
            with m.State("STOP"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """Transmitter: one ``bytes`` beat in, 10 bit times on ``tx``."""

    bytes: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m, d = Module(), self.divisor
        timer = Signal(range(d))
        frame = Signal(10, init=0x3FF)
        left = Signal(range(11))
        m.d.comb += [self.tx.eq(frame[0]), self.bytes.ready.eq(left == 0)]
        with m.If(left == 0):
            with m.If(self.bytes.valid):
                m.d.sync += [frame.eq((1 << 9) | (self.bytes.payload << 1)), left.eq(10), timer.eq(d - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [timer.eq(d - 1), left.eq(left - 1), frame.eq((frame >> 1) | (1 << 9))]
        return m
