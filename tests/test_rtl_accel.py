"""The whole accelerator in Amaranth's simulator: logits and cycles exact."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwgen import load
from hwgen.hwconfig import AccelConfig
from hwgen.rtl import lutram
from hwgen.sim import golden
from hwgen.sim.bench.amaranth_tb import simulate
from hwgen.sim.bench.nets import demo_like, images
from hwgen.sim.cycles import inference_cycles
from netgen import networks_and_inputs, random_inputs, random_network

CONFIGS = [(1, "dense"), (2, "event"), (3, "dense"), (3, "event")]


def check(network, config, x):
    expected = golden.run(network, x)
    logits, cycles, edges = simulate(network, config, x)
    model = inference_cycles(network, config, x)
    np.testing.assert_array_equal(logits, expected.logits)
    np.testing.assert_array_equal(cycles, model)        # the cycle counter output
    np.testing.assert_array_equal(edges, model)         # start -> done edges seen by the bench


@pytest.mark.parametrize("lanes,mode", CONFIGS)
def test_mini_demo_fused_pools(lanes, mode):
    """Demo shape (conv, fused pool, conv, fused pool, linear, linear), burst 2."""
    network = demo_like(0, size=8, channels=(3, 4), hidden=5, classes=3, timesteps=3, burst=2)
    check(network, AccelConfig(lanes, mode), images(0, 1, 8))


@pytest.mark.parametrize("lanes,mode", [(2, "event"), (3, "dense")])
def test_loaded_weights(lanes, mode):
    """Weights in the run-time loaded bank (no ROM): the bench loads them first, then same logits and cycles."""
    network = demo_like(1, size=8, channels=(3, 4), hidden=5, classes=3, timesteps=2, burst=2)
    check(network, AccelConfig(lanes, mode, weights="loaded"), images(1, 2, 8))


@pytest.mark.parametrize("lanes,weights", [(2, "loaded"), (3, "rom")])
def test_single_port_membranes(lanes, weights):
    """Membranes in single-port RAMs, the first layer recomputed at every step (no cache): same
    logits and cycles. With burst 1 a group's write-back comes 6 cycles after its read, so a
    6-tap edge group of the 1-channel 3x3 conv after a 4-tap corner one makes them meet (the
    write waits a cycle)."""
    network = demo_like(1, size=8, channels=(3, 4), hidden=5, classes=3, timesteps=3, burst=1)
    check(network, AccelConfig(lanes, weights=weights, membranes="spram", cache=False), images(1, 2, 8))


@pytest.mark.parametrize("lanes,mode,weights", [(2, "dense", "loaded"), (3, "event", "rom")])
def test_dsp_multipliers(lanes, mode, weights):
    """Lane products as ``x * w`` for DSP blocks (``multipliers="dsp"``): same logits and cycles."""
    network = demo_like(1, size=8, channels=(3, 4), hidden=5, classes=3, timesteps=2, burst=2)
    check(network, AccelConfig(lanes, mode, weights=weights, multipliers="dsp"), images(1, 2, 8))


@pytest.mark.parametrize("lanes,mode", [(2, "dense"), (3, "event")])
def test_lut_ram_spike_buffers(lanes, mode, monkeypatch):
    """Spike buffers in LUT RAM (read address registered, then an asynchronous read of
    16-word pieces into registers, so every bank has several pieces): same logits and cycles."""
    monkeypatch.setattr(lutram, "PIECE_WORDS", 16)
    network = demo_like(0, size=8, channels=(3, 4), hidden=5, classes=3, timesteps=3, burst=2)
    check(network, AccelConfig(lanes, mode, buffers="distributed"), images(0, 2, 8))


# Seeds of tests/netgen.py covering pools (stand-alone, overlapping, padded, on pixels),
# stride, padding, conv output layers, 1-D inputs, signed inputs, T = 1.
SEEDS = [0, 5, 9, 12, 13, 23, 30, 41]


CASES = [(seed, *[(1, "dense"), (3, "event"), (2, "dense"), (2, "event")][i % 4])
         for i, seed in enumerate(SEEDS)] + [(12, 3, "dense"), (30, 1, "event")]


@pytest.mark.parametrize("seed,lanes,mode", CASES)
def test_random_networks(seed, lanes, mode):
    network = random_network(seed)
    check(network, AccelConfig(lanes, mode), random_inputs(network, seed, 2))


@pytest.mark.parametrize("mode", ["dense", "event"])
def test_conformance_mlp(mode):
    network = load("tests/data/conformance-mlp")
    x = np.load("tests/data/conformance-mlp/inputs.npy")[:2]
    check(network, AccelConfig(2, mode), x)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_networks(data):
    """Random tiny networks, any lane count 1..4, either mode."""
    network, x = data.draw(networks_and_inputs(max_count=2))
    lanes, mode = data.draw(st.integers(1, 4)), data.draw(st.sampled_from(["dense", "event"]))
    check(network, AccelConfig(lanes, mode), x)


@pytest.mark.parametrize("lanes", [2, 4])
def test_image_channels_spread_over_banks(lanes):
    """A 3-channel image: banks hold 2, 1, 1 (or 1, 1, 1, 0) of its channels, each bank ends
    after its own (``Plan.bank_depth``); with a sumpool on the image every bank keeps the whole
    region (each lane reads its own bank there)."""
    from hwgen.hwplan import build_plan
    from hwgen.network import InputSpec, Layer, Network, Neuron, Op

    rng = np.random.default_rng(lanes)
    conv = Layer("c", Op.CONV2D, weight=rng.integers(-3, 4, (3, 3, 3, 3)), bias=rng.integers(-5, 6, 3),
                 padding=(1, 1), neuron=Neuron(threshold=40, v_init=20, burst=2, v_bits=12))
    out = Layer("o", Op.LINEAR, weight=rng.integers(-3, 4, (4, 3 * 4 * 4)), bias=np.zeros(4, dtype=np.int64),
                acc_bits=16)
    pool = Layer("p", Op.SUMPOOL2D, kernel=(2, 2), stride=(2, 2))
    plain = Network(2, InputSpec((3, 4, 4), 4, False), (conv, out))
    pooled = Network(2, InputSpec((3, 8, 8), 4, False), (pool, conv, out))
    plan = build_plan(plain, AccelConfig(lanes))
    image = [len(range(b, 3, lanes)) * 16 for b in range(lanes)]
    assert [plan.bank_depth(b) - plan.buffer_base[0] for b in range(lanes)] == image
    pooled_plan = build_plan(pooled, AccelConfig(lanes))
    assert len({pooled_plan.bank_depth(b) for b in range(lanes)}) == 1
    for network in (plain, pooled):
        x = rng.integers(0, 16, (2, *network.input.shape))
        check(network, AccelConfig(lanes), x)


def test_single_port_membranes_need_two_tokens_a_group():
    """Event mode, the cached first layer (one token a group) and a linear layer of one input
    are refused, naming the layer."""
    from hwgen.errors import HwgenError
    from hwgen.hwplan import build_plan

    network = demo_like(1, size=8, channels=(3, 4), hidden=5, classes=3, timesteps=3, burst=1)
    with pytest.raises(HwgenError, match="needs mode='dense'"):
        AccelConfig(2, "event", membranes="spram", cache=False)
    with pytest.raises(HwgenError, match="layer 0 .*cache=False"):
        build_plan(network, AccelConfig(2, membranes="spram"))
    build_plan(network, AccelConfig(2, membranes="spram", cache=False))
    from hwgen.network import InputSpec, Layer, Network, Op

    one_input = Network(2, InputSpec((1,), 8, False),
                        (Layer("out", Op.LINEAR, weight=np.ones((3, 1), dtype=np.int64), acc_bits=32),))
    build_plan(one_input, AccelConfig(1, membranes="block"))
    with pytest.raises(HwgenError, match="layer 0 .*a group of 1 token"):
        build_plan(one_input, AccelConfig(1, membranes="spram", cache=False))


def test_start_the_cycle_after_the_last_logit():
    """The next image loaded while the logits stream out (``pixels.ready`` is high in OUT),
    ``start`` the very cycle after the last logit is taken: the second inference runs and
    gives the golden logits (the FSM leaves OUT a cycle after the take, from a register)."""
    from amaranth.sim import Simulator

    from hwgen.hwplan import build_plan
    from hwgen.network import InputSpec, Layer, Network, Op
    from hwgen.rtl.top import Accelerator

    net = Network(1, InputSpec((4,), 4, False),
                  (Layer("o", Op.LINEAR, weight=np.arange(12).reshape(3, 4), acc_bits=16),))
    dut = Accelerator(build_plan(net, AccelConfig(1)))
    images = np.array([[1, 2, 3, 4], [4, 3, 2, 1]])
    got = []

    async def bench(ctx):
        async def load(image):
            for p in image:
                ctx.set(dut.pixels.valid, 1)
                ctx.set(dut.pixels.payload, int(p))
                await ctx.tick()
            ctx.set(dut.pixels.valid, 0)

        async def pulse_start():
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)

        await load(images[0])
        await pulse_start()
        for n in range(2):
            for _ in range(200):
                if ctx.get(dut.done):
                    break
                await ctx.tick()
            await ctx.tick()
            if n == 0:
                await load(images[1])                 # during OUT
            ctx.set(dut.logits.ready, 1)
            logits = []
            for _ in range(100):                      # bounded: a dropped start fails, never hangs
                if len(logits) == 3:
                    break
                if ctx.get(dut.logits.valid):
                    logits.append(ctx.get(dut.logits.payload))
                await ctx.tick()
            ctx.set(dut.logits.ready, 0)
            got.append(logits)
            if n == 0:
                await pulse_start()                   # the cycle right after the last take

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    np.testing.assert_array_equal(got, golden.run(net, images).logits)
