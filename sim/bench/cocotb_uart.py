"""cocotb test module: the board top driven through its UART pins only.

Reads ``HWGEN_BENCH_IN`` (``.npz``: ``images [N, F]``, ``logits [N, K]``,
``cycles [N]``, ``wire [4]`` = pixels, pixel bytes, classes, logit bytes,
``divisor``), sends each image as 8N1 frames on ``rx``, decodes the reply
from ``tx`` with :class:`hwgen.wire.Wire` and checks logits, class and
cycles exactly; writes the decoded replies to ``HWGEN_BENCH_OUT`` (JSON).
"""
from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, SimTimeoutError, with_timeout

from hwgen.wire import Wire

PERIOD_NS = 10


async def send(dut, data: bytes, divisor: int):
    for byte in data:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
            dut.rx.value = bit
            await ClockCycles(dut.clk, divisor)


async def receive(dut, count: int, divisor: int) -> bytes:
    out = bytearray()
    while len(out) < count:
        await FallingEdge(dut.tx)
        await ClockCycles(dut.clk, divisor + divisor // 2)
        byte = 0
        for i in range(8):
            byte |= int(dut.tx.value) << i
            await ClockCycles(dut.clk, divisor)
        assert int(dut.tx.value) == 1, f"stop bit low after {len(out)} bytes"
        out.append(byte)
    return bytes(out)


@cocotb.test()
async def uart_top_matches_golden(dut):
    data = np.load(os.environ["HWGEN_BENCH_IN"])
    wire, divisor = Wire(*[int(v) for v in data["wire"]]), int(data["divisor"])
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2 * divisor)
    replies, problems = [], []
    for index, image in enumerate(data["images"]):
        listener = cocotb.start_soon(receive(dut, wire.reply_bytes, divisor))
        await send(dut, b"\x00" + wire.request(image), divisor)       # a stray byte first
        limit = (int(data["cycles"][index]) + 20 * wire.reply_bytes * divisor) * 2
        try:
            reply = wire.decode(await with_timeout(listener, limit * PERIOD_NS, "ns"))
        except SimTimeoutError:
            problems.append(f"image {index}: no full reply within {limit} cycles")
            break
        replies.append({"logits": reply.logits.tolist(), "label": reply.label, "cycles": reply.cycles})
        want = data["logits"][index]
        if reply.logits.tolist() != want.tolist():
            problems.append(f"image {index}: logits expected {want.tolist()}, got {reply.logits.tolist()}")
        if reply.label != int(np.argmax(want)):
            problems.append(f"image {index}: class expected {int(np.argmax(want))}, got {reply.label}")
        if reply.cycles != int(data["cycles"][index]):
            problems.append(f"image {index}: cycles expected {int(data['cycles'][index])}, got {reply.cycles}")
    with open(os.environ["HWGEN_BENCH_OUT"], "w") as out:
        json.dump({"replies": replies, "problems": problems}, out)
    assert not problems, f"{len(problems)} problems: {problems[:5]}"
