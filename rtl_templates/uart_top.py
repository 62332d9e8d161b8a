"""The accelerator behind a UART: what a board runs.

Protocol (8N1; :mod:`hwgen.wire` is the host side and documents it)
------------------------------------------------------------------
host -> board
    ``0x49`` (``'I'``), then the image: ``prod(input.shape)`` words in C
    order, each :attr:`UartAccelerator.pixel_bytes` bytes, little-endian.
board -> host
    ``0x52`` (``'R'``), the ``classes`` logits, each
    :attr:`UartAccelerator.logit_bytes` bytes; the predicted class (the first
    largest logit, as ``numpy.argmax``) in 2 bytes; the inference's
    start-to-done cycle count in 4 bytes.

    With a loaded weight bank, once before any image: ``0x57`` (``'W'``),
    then the bank's :attr:`~hwgen.wire.Wire.weight_words` words of
    :attr:`~hwgen.wire.Wire.weight_bytes` bytes (no reply).

Bytes before an ``'I'`` (or ``'W'``) are ignored, so a host can resynchronise by sending
one image's worth of zeros and an ``'I'``.
"""

from amaranth import C, Cat, Elaboratable, Module, Mux, Signal, signed
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from hwgen.hwplan import Plan
from hwgen.wire import LOAD, REPLY, REQUEST, Wire

from .top import Accelerator
from .uart import UartRx, UartTx


class UartAccelerator(wiring.Component):
    """:class:`~hwgen.rtl.top.Accelerator` with a UART front end.

    Parameters
    ----------
    plan : Plan
        The accelerator's plan.
    divisor : int
        Clock cycles per UART bit (:func:`hwgen.rtl.uart.divisor_for`).

    Members
    -------
    rx : In(1)
        UART receive pin (idle high).
    tx : Out(1)
        UART transmit pin.
    busy : Out(1)
        An inference is running (for a LED).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, plan: Plan, divisor: int):
        self.plan, self.divisor = plan, divisor
        self.wire = wire = Wire.for_plan(plan)
        self.pixels, self.pixel_bytes = wire.pixels, wire.pixel_bytes
        self.classes, self.logit_bytes = wire.classes, wire.logit_bytes
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.accel = accel = Accelerator(self.plan)
        m.submodules.urx = urx = UartRx(self.divisor)
        m.submodules.utx = utx = UartTx(self.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.busy.eq(accel.busy)]
        self._replied = Signal()
        self._receive(m, urx, accel)
        self._send(m, utx, accel)
        return m

    def _receive(self, m, urx, accel):
        """Header byte, then pixel words into the accelerator, then ``start``.

        The receiver acts on the byte a cycle after the UART delivers it, its
        header decoded into registers, and on counters' "last" flags registered
        from the counters (they change only on a byte, ``10 * divisor`` cycles
        apart). Its states are one-hot flip-flops, each set from two or three
        others and those registers (a binary-coded FSM's state enable was six
        LUTs deep on the nearly full UP5K):

        ``header`` (waiting for a request) → ``pixels`` (a pixel word's bytes)
        → ``push`` (the word into the accelerator) → ``pixels`` … → ``go``
        (after the last word: ``start``) → ``waiting`` (until the reply is
        sent) → ``header``; with loaded weights also ``header`` → ``weights``
        (:meth:`_load_weights`) → ``header``.
        """
        npix = self.pixels
        pix_i, pix_last = Signal(range(npix)), Signal()
        m.d.comb += urx.bytes.ready.eq(1)
        got, byte = Signal(), Signal(8)
        is_request, is_load = Signal(), Signal()
        m.d.sync += [got.eq(urx.bytes.valid), byte.eq(urx.bytes.payload), is_request.eq(urx.bytes.payload == REQUEST),
                     is_load.eq(urx.bytes.payload == LOAD), pix_last.eq(pix_i == npix - 1)]
        header, pixels, waiting = Signal(init=1), Signal(), Signal()
        push, go = Signal(), Signal()          # the states PUSH and START, which drive the accelerator
        request = header & got & is_request
        word, byte_last = _assemble(m, pixels & got, byte, self.pixel_bytes, clear=request)
        m.d.comb += [accel.pixels.valid.eq(push), accel.pixels.payload.eq(word), accel.start.eq(go)]
        load_now, weights_done = C(0), C(0)
        if self.plan.loaded:
            load_now = header & got & is_load
            weights_done = self._load_weights(m, got, byte, load_now)
        m.d.sync += [header.eq(header & ~request & ~load_now | waiting & self._replied | weights_done),
                     pixels.eq(request | pixels & ~(got & byte_last) | push & ~pix_last),
                     push.eq(pixels & got & byte_last), go.eq(push & pix_last),
                     waiting.eq(go | waiting & ~self._replied)]
        with m.If(request):
            m.d.sync += pix_i.eq(0)
        with m.If(push):
            m.d.sync += pix_i.eq(pix_i + 1)

    def _load_weights(self, m, got, byte, enter):
        """The receiver's ``weights`` state (entered on ``enter``): the bank's words,
        little-endian, pushed (registered) into ``accel.weights`` as each completes; back to
        ``header`` after the last, on the returned ``done``. The accelerator is idle here, so
        the push is always taken (a byte lasts ``10 * divisor`` cycles). ``got``/``byte``: the
        received byte a cycle late (:meth:`_receive`)."""
        accel = m.submodules.accel
        depth = self.wire.weight_words
        word_i, word_last = Signal(range(depth)), Signal()
        weights, push = Signal(), Signal()
        word, byte_last = _assemble(m, weights & got, byte, self.wire.weight_bytes)
        done = weights & got & byte_last & word_last
        m.d.comb += [accel.weights.valid.eq(push), accel.weights.payload.eq(word)]
        m.d.sync += [word_last.eq(word_i == depth - 1), push.eq(weights & got & byte_last),
                     weights.eq(enter | weights & ~done)]
        with m.If(weights & got & byte_last):
            m.d.sync += word_i.eq(Mux(word_last, 0, word_i + 1))
        return done

    def _send(self, m, utx, accel):
        """Reply header, logits (tracking the argmax), class, cycles.

        The argmax runs behind the logit stream: a received logit is held in
        ``seen`` and compared with ``best`` by :meth:`_argmax` over the next
        cycles, so no path goes from the accelerator's logit port through a
        comparator into the byte shifter (one UART byte lasts ``10 * divisor``
        cycles, far longer than the lag). Each load of the byte shifter is
        decided into a one-hot register and done a cycle later, from registers
        (so no path runs from a handshake through the FSM into the shifter).
        """
        lb = self.logit_bytes
        out = Signal(32)
        left = Signal(range(5))
        m.d.comb += [utx.bytes.valid.eq(left != 0), utx.bytes.payload.eq(out[:8])]
        # idle: the shifter is empty, a register kept equal to ``left == 0`` (every load below sets
        # left >= 1 while idle, so it clears idle), so the FSM's conditions start from registers
        idle = Signal(init=1)
        with m.If(utx.bytes.valid & utx.bytes.ready):
            m.d.sync += [out.eq(out >> 8), left.eq(left - 1), idle.eq(left == 1)]
        best, best_i = Signal(accel.logits.payload.shape()), Signal(16)
        seen, seen_i, seen_valid = Signal(accel.logits.payload.shape()), Signal(16), Signal()
        k, last = Signal(16), Signal()
        done = Signal()                 # the accelerator's done (an FSM-state decode), registered here
        m.d.sync += [seen_valid.eq(0), done.eq(accel.done)]
        deciding = self._argmax(m, seen, seen_i, seen_valid, best, best_i)
        # ready: a register equal to "in LOGITS and idle" (a take clears it at once; it rises one
        # cycle after idle), so the accelerator's logit FSM starts from a register, not this FSM.
        ready = Signal()
        take = accel.logits.valid & ready
        m.d.comb += accel.logits.ready.eq(ready)
        m.d.sync += ready.eq(0)
        # The shifter's loads: (value, bytes), decided a cycle before.
        loads = {"reply": (REPLY, 1), "logit": (seen.as_signed(), lb), "class": (best_i, 2),
                 "cycles": (accel.cycles, 4)}
        load = {name: Signal(name=f"load_{name}") for name in loads}
        m.d.sync += [flag.eq(0) for flag in load.values()]
        for name, (value, nbytes) in loads.items():
            with m.If(load[name]):
                m.d.sync += [out.eq(value), left.eq(nbytes)]
        with m.FSM(name="tx_fsm"):
            with m.State("WAIT"):
                with m.If(done):
                    m.d.sync += [load["reply"].eq(1), k.eq(0), last.eq(self.classes == 1), idle.eq(0)]
                    m.next = "LOGITS"
            with m.State("LOGITS"):
                m.d.sync += ready.eq(idle & ~take)
                with m.If(take):
                    m.d.sync += [load["logit"].eq(1), idle.eq(0), k.eq(k + 1), last.eq(k == self.classes - 2),
                                 seen.eq(accel.logits.payload), seen_i.eq(k), seen_valid.eq(1)]
                    with m.If(last):
                        m.next = "CLASS"
            with m.State("CLASS"):
                with m.If(idle & ~seen_valid & ~deciding):
                    m.d.sync += [load["class"].eq(1), idle.eq(0)]
                    m.next = "CYCLES"
            with m.State("CYCLES"):
                with m.If(idle):
                    m.d.sync += [load["cycles"].eq(1), idle.eq(0)]
                    m.next = "FLUSH"
            with m.State("FLUSH"):
                with m.If(idle):
                    m.d.comb += self._replied.eq(1)
                    m.next = "WAIT"


    @staticmethod
    def _argmax(m, seen, seen_i, seen_valid, best, best_i):
        r"""``best, best_i <- seen, seen_i`` if ``seen_i == 0`` or ``seen > best``, 3 cycles after ``seen_valid``.

        The signed comparison is split in two halves of a subtraction:
        :math:`b - s < 0` with the low half's borrow registered in between,
        so no carry chain is longer than half the logit width. Returns the
        signal that is high while a comparison is in flight.
        """
        width = len(seen)
        half = width // 2
        low = Signal(half + 1)                  # best[:half] - seen[:half]; bit ``half`` = borrow
        best_hi, seen_hi = Signal(signed(width - half)), Signal(signed(width - half))
        greater, stage = Signal(), Signal(2)
        m.d.sync += stage.eq(Cat(seen_valid, stage[0]))
        with m.If(seen_valid):
            m.d.sync += [low.eq(best[:half] - seen[:half]), best_hi.eq(best[half:]), seen_hi.eq(seen[half:])]
        with m.If(stage[0]):
            m.d.sync += greater.eq((best_hi - seen_hi - low[half]) < 0)
        with m.If(stage[1] & ((seen_i == 0) | greater)):
            m.d.sync += [best.eq(seen), best_i.eq(seen_i)]
        return stage.any()


def _assemble(m, enable, byte, nbytes: int, clear=C(0)):
    """A little-endian word of ``nbytes`` bytes, ``byte`` shifted in on each ``enable``
    (:func:`_shift_in`); the byte count wraps at the word and restarts on ``clear``.
    Returns the word and ``last``, a register: the next byte completes the word."""
    word, byte_i, last = Signal(8 * nbytes, name="word"), Signal(range(nbytes), name="byte_i"), Signal(name="byte_last")
    m.d.sync += last.eq(byte_i == nbytes - 1)
    with m.If(clear):
        m.d.sync += byte_i.eq(0)
    with m.If(enable):
        m.d.sync += [word.eq(_shift_in(word, byte, nbytes)), byte_i.eq(Mux(last, 0, byte_i + 1))]
    return word, last


def _shift_in(word, byte, nbytes: int):
    """``word`` (``8 * nbytes`` bits) with ``byte`` shifted in at the top: after ``nbytes``
    bytes it holds them little-endian."""
    return byte << (8 * (nbytes - 1)) | (word >> 8) if nbytes > 1 else byte


class BoardTop(Elaboratable):
    """The :class:`UartAccelerator` on a board's default clock and ``uart`` 0.

    The UART divisor comes from the board's real oscillator
    (``platform.board_clock_hz`` when :meth:`hwgen.boards.Board.make_platform`
    made the platform), not from the timing target.
    """

    def __init__(self, plan: Plan, baud: int = 115200):
        self.plan, self.baud = plan, baud

    def elaborate(self, platform):
        from .uart import divisor_for

        m = Module()
        clock_hz = getattr(platform, "board_clock_hz", platform.default_clk_frequency)
        m.submodules.core = core = UartAccelerator(self.plan, divisor_for(clock_hz, self.baud))
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buf.i), tx_buf.o.eq(core.tx)]
        if ("uart_tx_enable", 0) in platform.resources:
            m.submodules.txen_buf = txen = io.Buffer("o", platform.request("uart_tx_enable", 0, dir="-"))
            m.d.comb += txen.o.eq(1)
        return m
