"""cocotb test module: stream images into the generated Verilog, check everything.

Run by :func:`hwgen.hwverify.verify` through ``cocotb_tools.runner``. Reads
``HWGEN_BENCH_IN`` (``.npz``: ``images [N, F]``, ``logits [N, K]``,
``cycles [N]``, and for a loaded weight bank ``weight_lanes [D, P]`` and
``weight_bits``, streamed into ``weights`` first) and writes the measurements to ``HWGEN_BENCH_OUT`` (JSON);
the file is rewritten after every image, so a run that is stopped keeps
what it finished. With ``HWGEN_BENCH_PROGRESS`` set, it appends one byte
to that file per image done (the host's progress bar counts them).
The clock period is ``HWGEN_BENCH_PERIOD_NS`` (default 10); with
``HWGEN_BENCH_HDL_CLOCK=1`` the simulated top drives the clock itself
(:func:`hwgen.simnetlist.clock_wrapper`), else the bench starts a
:class:`cocotb.clock.Clock`: on Icarus its Python coroutine, woken twice a
cycle, costs more than the design.

Cycles are measured from simulation time, with no per-cycle Python: ``start``
is raised before the rising edge ``e0`` that samples it and ``done`` rises
right after edge ``e0 + K``; the count is :math:`K + 1` (the cycle model's
convention), and the ``cycles`` port must agree.
"""
from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, SimTimeoutError, with_timeout

from hwgen.sim.bench.cocotb_lib import Scoreboard, StreamDriver, StreamSink

PERIOD_NS = int(os.environ.get("HWGEN_BENCH_PERIOD_NS", "10"))


def _save(board: Scoreboard, port_mismatch: list) -> None:
    """Write the measurements so far (whole file, then rename: never half a file)."""
    path = os.environ["HWGEN_BENCH_OUT"]
    with open(path + ".part", "w") as out:
        json.dump({"logits": board.logits, "cycles": board.cycles, "port_mismatches": port_mismatch}, out)
    os.replace(path + ".part", path)


def _progress() -> None:
    path = os.environ.get("HWGEN_BENCH_PROGRESS")
    if path:
        with open(path, "a") as done:
            done.write(".")


async def _load_weights(dut, lanes: np.ndarray, weight_bits: int) -> None:
    """Stream the weight bank's words (lane i in bits i*b_w ..) before any image."""
    words = [sum(int(v) << (i * weight_bits) for i, v in enumerate(row)) for row in lanes]
    await StreamDriver(dut.clk, dut.weights__payload, dut.weights__valid, dut.weights__ready).send(words)


@cocotb.test()
async def accelerator_matches_golden(dut):
    data = np.load(os.environ["HWGEN_BENCH_IN"])
    images, expected, expected_cycles = data["images"], data["logits"], data["cycles"]
    if os.environ.get("HWGEN_BENCH_HDL_CLOCK") != "1":
        Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.start.value = 0
    dut.rst.value = 1
    driver = StreamDriver(dut.clk, dut.pixels__payload, dut.pixels__valid, dut.pixels__ready)
    sink = StreamSink(dut.clk, dut.logits__payload, dut.logits__valid, dut.logits__ready)
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    if "weight_lanes" in data:
        await _load_weights(dut, data["weight_lanes"], int(data["weight_bits"]))
    board = Scoreboard(expected.tolist(), expected_cycles.tolist())
    port_mismatch = []
    for index, image in enumerate(images):
        await driver.send(image.tolist())
        dut.start.value = 1
        await RisingEdge(dut.clk)
        t0 = get_sim_time(unit="ns")
        await FallingEdge(dut.clk)
        dut.start.value = 0
        limit = int(expected_cycles[index]) * 2 + 1000
        try:
            await with_timeout(RisingEdge(dut.done), limit * PERIOD_NS, "ns")
        except SimTimeoutError:
            board.check(index, [], -1)
            dut._log.error(f"image {index}: no done within {limit} cycles")
            break
        t1 = get_sim_time(unit="ns")
        measured = round((t1 - t0) / PERIOD_NS) + 1
        await FallingEdge(dut.clk)
        if int(dut.cycles.value) != measured:
            port_mismatch.append((index, measured, int(dut.cycles.value)))
        logits = await sink.receive(expected.shape[1])
        board.check(index, logits, measured)
        _save(board, port_mismatch)
        _progress()
    dut._log.info(board.summary())
    _save(board, port_mismatch)
    assert not port_mismatch, f"cycles port disagrees with the measured count: {port_mismatch[:5]}"
    assert board.ok, board.summary()
