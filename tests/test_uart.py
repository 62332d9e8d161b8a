"""The board's UART front end: the UART cores, the wire protocol, the whole top in Amaranth's simulator."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from amaranth import Module
from amaranth.sim import Simulator

from hwgen.errors import HwgenError
from hwgen.hwconfig import AccelConfig
from hwgen.hwplan import build_plan
from hwgen.rtl.uart import UartRx, UartTx, divisor_for
from hwgen.rtl.uart_top import UartAccelerator
from hwgen.sim import golden
from hwgen.sim.bench.nets import demo_like, images
from hwgen.sim.cycles import inference_cycles
from hwgen.wire import Wire

DIV = 4


async def send_bytes(ctx, pin, data, divisor=DIV):
    """Drive 8N1 frames on ``pin``."""
    for byte in data:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
            ctx.set(pin, bit)
            await ctx.tick().repeat(divisor)


async def receive_bytes(ctx, pin, count, divisor=DIV, timeout=1_000_000):
    """Sample 8N1 frames from ``pin`` until ``count`` bytes arrived."""
    out, waited = [], 0
    while len(out) < count:
        await ctx.tick()
        waited += 1
        assert waited < timeout, f"UART timeout after {len(out)} bytes"
        if ctx.get(pin):
            continue
        await ctx.tick().repeat(divisor + divisor // 2)
        byte = 0
        for i in range(8):
            byte |= ctx.get(pin) << i
            await ctx.tick().repeat(divisor)
        assert ctx.get(pin) == 1, "stop bit low"
        out.append(byte)
    return out


def test_divisor_rounds_and_rejects_too_fast():
    assert divisor_for(12e6, 115200) == 104
    with pytest.raises(ValueError, match="too fast"):
        divisor_for(1e6, 1_000_000)


def test_uart_loopback_every_byte_value():
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx = UartTx(DIV), UartRx(DIV)
    m.d.comb += rx.rx.eq(tx.tx)
    data = [0x00, 0xFF, 0x55, 0xA5, 0x01, 0x80]
    got = []

    async def bench(ctx):
        ctx.set(rx.bytes.ready, 1)
        for byte in data:
            ctx.set(tx.bytes.payload, byte)
            ctx.set(tx.bytes.valid, 1)
            await ctx.tick().until(tx.bytes.ready)
            await ctx.tick()
            ctx.set(tx.bytes.valid, 0)
            for _ in range(12 * DIV):
                if ctx.get(rx.bytes.valid):
                    got.append(ctx.get(rx.bytes.payload))
                    break
                await ctx.tick()
            await ctx.tick().repeat(2 * DIV)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == data


def test_wire_round_trip_and_errors():
    wire = Wire(pixels=3, pixel_bytes=2, classes=2, logit_bytes=3)
    assert wire.request(np.array([1, -2, 300])) == bytes([0x49, 1, 0, 0xFE, 0xFF, 0x2C, 0x01])
    reply = bytes([0x52]) + (-5).to_bytes(3, "little", signed=True) + (7).to_bytes(3, "little", signed=True) \
        + (1).to_bytes(2, "little") + (1234).to_bytes(4, "little")
    decoded = wire.decode(reply)
    assert decoded.logits.tolist() == [-5, 7] and decoded.label == 1 and decoded.cycles == 1234
    with pytest.raises(HwgenError, match="expected 13"):
        wire.decode(reply[:-1])
    with pytest.raises(HwgenError, match="starts with 0x00"):
        wire.decode(b"\0" + reply[1:])
    with pytest.raises(HwgenError, match="takes 3"):
        wire.request(np.zeros(4))


def test_uart_top_matches_golden_model():
    """Bytes in on ``rx``, bytes out on ``tx``: logits, class and cycles as the golden and cycle models say."""
    net = demo_like(3, size=4, channels=(1, 2), hidden=4, classes=3, timesteps=2)
    config = AccelConfig(2, "dense")
    dut = UartAccelerator(build_plan(net, config), DIV)
    x = images(3, 2, size=4)
    want = golden.run(net, x)
    want_cycles = inference_cycles(net, config, x)
    wire = dut.wire
    replies = []

    async def bench(ctx):
        for image in x:
            await send_bytes(ctx, dut.rx, b"\x17" + wire.request(image))   # a stray byte first
            replies.append(wire.decode(bytes(await receive_bytes(ctx, dut.tx, wire.reply_bytes))))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    got = np.stack([r.logits for r in replies])
    np.testing.assert_array_equal(got, want.logits)
    assert [r.label for r in replies] == np.argmax(want.logits, axis=1).tolist()
    assert [r.cycles for r in replies] == want_cycles.tolist()


def test_uart_top_loads_weights_then_matches_golden_model():
    """A loaded weight bank: ``'W'`` and the bank's words first (after a stray byte), then images."""
    net = demo_like(5, size=4, channels=(1, 2), hidden=4, classes=3, timesteps=2)
    config = AccelConfig(3, "event", weights="loaded")
    plan = build_plan(net, config)
    dut = UartAccelerator(plan, DIV)
    wire = dut.wire
    assert (wire.weight_words, wire.weight_bytes) == (plan.weights.shape[1], 3 * plan.weight_bits // 8 + 1 * bool(
        3 * plan.weight_bits % 8))
    x = images(5, 2, size=4)
    replies = []

    async def bench(ctx):
        await send_bytes(ctx, dut.rx, b"\x17" + wire.load(plan.weight_words()))
        for image in x:
            await send_bytes(ctx, dut.rx, wire.request(image))
            replies.append(wire.decode(bytes(await receive_bytes(ctx, dut.tx, wire.reply_bytes))))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    np.testing.assert_array_equal(np.stack([r.logits for r in replies]), golden.run(net, x).logits)
    assert [r.cycles for r in replies] == inference_cycles(net, config, x).tolist()


def test_board_run_loads_the_weights_once_first():
    from hwgen.board_run import run_on_board
    from hwgen.boards import load_board

    net = demo_like(4, size=4, channels=(1, 2), hidden=4, classes=3, timesteps=2)
    config = AccelConfig(2, "dense", weights="loaded")
    plan = build_plan(net, config)
    wire, want = Wire.for_plan(plan), golden.run(net, images(4, 2, size=4))
    sent = []

    class Recorder:
        def write(self, data):
            sent.append(bytes(data))

        def read(self, n):
            logits = want.logits[len(sent) - 2]
            return bytes([0x52]) + b"".join(int(v).to_bytes(wire.logit_bytes, "little", signed=True)
                                             for v in logits) + bytes(6)

    run_on_board(net, load_board("icebreaker"), config, images(4, 2, size=4), Recorder())
    assert sent[0] == wire.load(plan.weight_words()) and sent[0][0] == 0x57
    assert len(sent[0]) == 1 + wire.weight_words * wire.weight_bytes
    assert [d[0] for d in sent[1:]] == [0x49, 0x49]
    with pytest.raises(HwgenError, match="takes"):
        wire.load([0])


class SimulatedBoard:
    """A serial link to :class:`UartAccelerator` in Amaranth's simulator (one simulation per request)."""

    def __init__(self, plan, corrupt=False):
        self.plan, self.corrupt, self.pending = plan, corrupt, b""

    def write(self, data):
        self.pending += data

    def read(self, n):
        dut = UartAccelerator(self.plan, DIV)
        got = []

        async def bench(ctx):
            await send_bytes(ctx, dut.rx, self.pending)
            got.extend(await receive_bytes(ctx, dut.tx, n))

        sim = Simulator(dut)
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        sim.run()
        self.pending = b""
        if self.corrupt:
            got[1] ^= 1
        return bytes(got)


@pytest.mark.parametrize("corrupt", [False, True])
def test_board_run_checks_every_reply(corrupt):
    from hwgen.board_run import run_on_board
    from hwgen.boards import load_board

    net = demo_like(4, size=4, channels=(1, 2), hidden=4, classes=3, timesteps=2)
    config = AccelConfig(2, "dense")
    x = images(4, 2, size=4)
    result = run_on_board(net, load_board("icebreaker"), config, x, SimulatedBoard(build_plan(net, config), corrupt))
    assert result.images == 2
    assert result.ok is not corrupt
    if corrupt:
        assert [m[:2] for m in result.mismatches] == [(0, 0), (1, 0)]
        assert "image 0 output 0: expected" in result.summary()


def test_board_run_short_reply_is_a_clear_error():
    from hwgen.board_run import run_on_board
    from hwgen.boards import load_board

    class Silent:
        def write(self, data):
            pass

        def read(self, n):
            return b""

    net = demo_like(4, size=4, channels=(1, 2), hidden=4, classes=3, timesteps=2)
    with pytest.raises(HwgenError, match="sent 0 of"):
        run_on_board(net, load_board("icebreaker"), AccelConfig(2), images(4, 1, size=4), Silent())


@st.composite
def _logits(draw):
    width = draw(st.integers(1, 33))
    values = st.integers(-2 ** (width - 1), 2 ** (width - 1) - 1)
    return width, draw(st.lists(values, min_size=1, max_size=6))


@settings(max_examples=40, deadline=None)
@given(_logits(), st.integers(0, 2))
def test_board_argmax_is_numpy_argmax(drawn, repeat):
    """The split-comparison argmax picks the first largest logit, as ``numpy.argmax`` (any width, ties, negatives)."""
    from amaranth import Signal, signed

    width, logits = drawn
    logits = logits + logits[:repeat]               # some ties
    m = Module()
    seen, seen_i, seen_valid = Signal(signed(width)), Signal(16), Signal()
    best, best_i = Signal(signed(width)), Signal(16)
    UartAccelerator._argmax(m, seen, seen_i, seen_valid, best, best_i)
    got = []

    async def bench(ctx):
        for index, value in enumerate(logits):
            ctx.set(seen, value)
            ctx.set(seen_i, index)
            ctx.set(seen_valid, 1)
            await ctx.tick()
            ctx.set(seen_valid, 0)
            await ctx.tick().repeat(4)
        got.append(ctx.get(best_i))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == [int(np.argmax(logits))]
