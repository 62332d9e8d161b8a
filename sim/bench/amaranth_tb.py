"""Run the accelerator in Amaranth's simulator (fast unit-level checks).

:func:`simulate` streams images in, pulses ``start``, waits for ``done``,
reads the logits and the ``cycles`` output; it also measures start-to-done
edges itself. A loaded-weights design gets its weight bank first.
"""
from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from hwgen.hwconfig import AccelConfig
from hwgen.hwplan import build_plan
from hwgen.rtl.top import Accelerator


def simulate(network, config: AccelConfig, x, *, timeout: int = 2_000_000):
    """Return ``(logits [N, classes], cycles [N], counted [N])`` from the RTL."""
    plan = build_plan(network, config)
    dut = Accelerator(plan)
    x = np.asarray(x).reshape(len(x), -1)
    results = []

    async def bench(ctx):
        if plan.loaded:                         # the weight bank first (no ROM)
            for word in plan.weight_words():
                ctx.set(dut.weights.valid, 1)
                ctx.set(dut.weights.payload, word)
                await ctx.tick()
            ctx.set(dut.weights.valid, 0)
        for image in x:
            for pixel in image:
                ctx.set(dut.pixels.valid, 1)
                ctx.set(dut.pixels.payload, int(pixel))
                await ctx.tick()
            ctx.set(dut.pixels.valid, 0)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            edges = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                edges += 1
                assert edges < timeout, "timeout waiting for done"
            cycles = ctx.get(dut.cycles)
            logits = []
            ctx.set(dut.logits.ready, 1)
            while len(logits) < network.classes:
                if ctx.get(dut.logits.valid):
                    logits.append(ctx.get(dut.logits.payload))
                await ctx.tick()
            ctx.set(dut.logits.ready, 0)
            results.append((logits, cycles, edges))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    logits, cycles, edges = zip(*results)
    return np.array(logits, dtype=np.int64), np.array(cycles), np.array(edges)
