"""Amaranth-simulator unit tests of the fire unit and the neuron lane."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth import signed
from amaranth.sim import Simulator

from hwgen.fixedpoint import fire, saturate, signed_range
from hwgen.rtl.fire import FireUnit
from hwgen.rtl.lane import NeuronLane


def simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("threshold,burst,max_burst,sub_bits", [(7, 1, 1, None), (5, 3, 4, None), (100, 4, 4, None),
                                                               (3, 0, 2, None), (100, 3, 3, 12), (9, 2, 2, 8)])
def test_fire_unit_matches_fixedpoint(threshold, burst, max_burst, sub_bits):
    """Values of ``width - 1`` bits (or ``sub_bits - 1``: the subtraction's width), and a
    20-bit unit with a narrower subtraction passing values through when ``burst = 0``."""
    width = 12 if sub_bits is None else 20
    rng = np.random.default_rng(threshold)
    lo, hi = signed_range((sub_bits or width) - 1)
    values = np.concatenate([rng.integers(lo, hi, 60), [-1, 0, threshold - 1, threshold, hi, lo]])
    dut = FireUnit(width, max_burst, sub_bits=sub_bits)
    got = []

    async def bench(ctx):
        ctx.set(dut.threshold, threshold)
        ctx.set(dut.burst, burst)
        await ctx.tick()                      # the unit copies theta and Gamma into its registers
        for cycle in range(len(values) + dut.latency + 1):
            if cycle < len(values):
                ctx.set(dut.valid_in, 1)
                ctx.set(dut.v_in, int(values[cycle]))
            else:
                ctx.set(dut.valid_in, 0)
            if ctx.get(dut.valid_out):
                got.append((ctx.get(dut.k_out), ctx.get(dut.v_out)))
                assert cycle - len(got) + 1 == dut.latency
            await ctx.tick()

    simulate(dut, bench)
    k, v = fire(values, threshold, burst)
    assert got == list(zip(k.tolist(), v.tolist()))


def test_fire_unit_passes_wide_values_when_not_firing():
    """A 20-bit unit with a 10-bit subtraction: with Gamma = 0 every 20-bit value leaves unchanged."""
    dut = FireUnit(20, 2, sub_bits=10)
    values = [2 ** 19 - 1, -2 ** 19, 12345, -54321, 1023, 1024]
    got = []

    async def bench(ctx):
        ctx.set(dut.threshold, 5)
        ctx.set(dut.burst, 0)
        await ctx.tick()
        for cycle in range(len(values) + dut.latency + 1):
            ctx.set(dut.valid_in, int(cycle < len(values)))
            if cycle < len(values):
                ctx.set(dut.v_in, values[cycle])
            if ctx.get(dut.valid_out):
                got.append((ctx.get(dut.k_out), ctx.get(dut.v_out)))
            await ctx.tick()

    simulate(dut, bench)
    assert got == [(0, v) for v in values]


def _lane(weights, biases, *, mem_bits=10, max_burst=3, fused=False, depth=8, piece_words=None, dsp=False):
    return NeuronLane(value_bits=6, weight_bits=8, acc_bits=14, mem_bits=mem_bits, max_burst=max_burst,
                      weights=weights, biases=biases, mem_depth=depth, piece_words=piece_words, dsp=dsp)


@pytest.mark.parametrize("piece_words,dsp", [(None, False), (4, False), (None, True)])
def test_lane_membrane_burst_negative_and_saturation(piece_words, dsp):
    """Groups of varying fan-in (1 token up to 5) back to back over 3 timesteps; with
    ``piece_words=4`` the weight ROM is 4 pieces and the membrane RAM 2; ``dsp``: the
    product ``x * w`` for a DSP block, same latency."""
    rng = np.random.default_rng(1)
    groups = 6
    fan = [1, 5, 2, 1, 3, 4]
    weights = rng.integers(-128, 128, sum(fan)).tolist()
    biases = rng.integers(-300, 300, groups).tolist()
    theta, burst, v_init, v_bits = 37, 3, 18, 10
    lane = _lane(weights, biases, mem_bits=v_bits, piece_words=piece_words, dsp=dsp)
    steps = 3
    xs = [rng.integers(-31, 32, sum(fan)) for _ in range(steps)]
    # Reference with the fixed-point rules.
    v = np.full(groups, v_init)
    expected = []
    for t in range(steps):
        offs = np.cumsum([0] + fan)
        cur = np.array([int(np.dot(xs[t][offs[g]:offs[g + 1]], weights[offs[g]:offs[g + 1]])) + biases[g]
                        for g in range(groups)])
        v, _ = saturate(v + cur, v_bits)
        k, v = fire(v, theta, burst)
        expected.append(k.tolist())
    got = []

    async def bench(ctx):
        lo, hi = signed_range(v_bits)
        for name, value in (("threshold", theta), ("burst", burst), ("lo", lo), ("hi", hi),
                            ("v_init", v_init), ("use_bias", 1)):
            ctx.set(getattr(lane, name), value)
        for t in range(steps):
            ctx.set(lane.t0, int(t == 0))
            out = []
            tokens = [(g, j) for g in range(groups) for j in range(fan[g])]
            offs = np.cumsum([0] + fan)
            for cycle in range(len(tokens) + lane.latency + 2):
                if cycle < len(tokens):
                    g, j = tokens[cycle]
                    for name, value in (("valid", 1), ("first", j == 0), ("last", j == fan[g] - 1),
                                        ("value", int(xs[t][offs[g] + j])), ("waddr", int(offs[g] + j)),
                                        ("baddr", g), ("naddr", g)):
                        ctx.set(getattr(lane, name), int(value))
                else:
                    ctx.set(lane.valid, 0)
                if ctx.get(lane.out_valid):
                    out.append(ctx.get(lane.out_value))
                await ctx.tick()
            got.append(out)

    simulate(lane, bench)
    assert got == expected
    flat = [k for row in expected for k in row]
    assert 0 in flat and burst in flat and any(0 < k < burst for k in flat), flat


def test_lane_fused_pool_and_null_tokens():
    """A 2-group pool window sums spike counts; null tokens add nothing."""
    lane = _lane([3, 3], [0, 0], max_burst=2)
    got = []

    async def bench(ctx):
        for name, value in (("threshold", 2), ("burst", 2), ("lo", -512), ("hi", 511), ("t0", 1),
                            ("fused", 1)):
            ctx.set(getattr(lane, name), value)
        # group 0: x=2 -> V=6 -> k=2; group 1: null -> V=0 -> k=0; window sum 2.
        tokens = [dict(value=2, null=0, pool_first=1, pool_last=0, naddr=0),
                  dict(value=2, null=1, pool_first=0, pool_last=1, naddr=1)]
        for cycle in range(len(tokens) + lane.latency + 2):
            if cycle < len(tokens):
                for name, value in dict(valid=1, first=1, last=1, waddr=0, **tokens[cycle]).items():
                    ctx.set(getattr(lane, name), value)
            else:
                ctx.set(lane.valid, 0)
            if ctx.get(lane.out_valid):
                got.append(ctx.get(lane.out_value))
            await ctx.tick()

    simulate(lane, bench)
    assert got == [2]


@pytest.mark.parametrize("flat", [False, True])
def test_scanner_compacts_nonzeros_with_exact_timing(flat):
    """P = 3 banks, C = 4 channels, 2 x 3 positions: entries, offsets and cycles."""
    from hwgen.rtl.scanner import Scanner

    lanes, (c, h, w) = 3, (4, 2, 3)
    rng = np.random.default_rng(3)
    tensor = rng.integers(0, 3, (c, h, w)) * (rng.integers(0, 2, (c, h, w)))
    groups = -(-c // lanes)
    banks = np.zeros((lanes, groups * h * w), dtype=np.int64)
    for ch in range(c):
        banks[ch % lanes, (ch // lanes) * h * w:(ch // lanes + 1) * h * w] = tensor[ch].reshape(-1)
    dut = Scanner(lanes=lanes, value_bits=4, addr_bits=8, index_bits=6, scans={0: (c, h, w, flat)})
    entries, offsets = [], {}
    expected_cycles = sum(max(1, int(np.count_nonzero(tensor[g * lanes:(g + 1) * lanes, y, x])))
                          for y in range(h) for x in range(w) for g in range(groups))
    seen = {}

    async def bench(ctx):
        ctx.set(dut.begin, 1)
        addr = ctx.get(dut.rd_addr)
        await ctx.tick()
        ctx.set(dut.begin, 0)
        ctx.set(dut.active, 1)
        for cycle in range(1, 200):
            for lane in range(lanes):
                ctx.set(dut.rd_data[lane], int(banks[lane, addr]))
            if ctx.get(dut.list_en):
                entries.append((ctx.get(dut.list_data) >> 4, ctx.get(dut.list_data) & 15))
            if ctx.get(dut.off_en):
                word = ctx.get(dut.off_data)
                offsets[ctx.get(dut.off_addr)] = (word & 255, word >> 8)
            end = ctx.get(dut.end)
            addr = ctx.get(dut.rd_addr)
            await ctx.tick()
            if end:
                seen["cycles"] = cycle
                break

    simulate(dut, bench)
    assert seen["cycles"] == expected_cycles
    want = [((ch * h * w + y * w + x) if flat else ch, int(tensor[ch, y, x]))
            for y in range(h) for x in range(w) for ch in range(c) if tensor[ch, y, x]]
    assert sorted(entries) == sorted(want) and len(entries) == len(want)
    if flat:
        assert offsets == {0: (0, len(want))}
    else:
        start = 0
        for pos in range(h * w):
            count = int(np.count_nonzero(tensor[:, pos // w, pos % w]))
            assert offsets[pos] == (start, count)
            start += count


def test_block_words_fit_an_18kbit_block():
    from hwgen.rtl.blockmem import BLOCK_BITS, block_words

    assert [block_words(w) for w in (1, 2, 4, 8, 9, 10, 18, 20, 36, 40)] == \
        [16384, 8192, 4096, 2048, 2048, 1024, 1024, 512, 512, 512]
    assert all(block_words(w) * w <= BLOCK_BITS for w in range(1, 37))


@pytest.mark.parametrize("writable", [False, True])
@pytest.mark.parametrize("logic_words", [1, 2])
def test_blocked_memory_reads_every_piece_two_cycles_later(writable, logic_words):
    """10 words in pieces of 4 (a ROM's 2-word tail goes to logic, in sub-ROMs of
    ``logic_words``): back-to-back reads, any order."""
    from hwgen.rtl.blockmem import BlockedMemory, pieces, tail_in_logic

    init = [5, -3, 7, 1, -8, 2, 0, 6, -1, 4]
    assert pieces(len(init), 8) == [8, 2] and tail_in_logic([8, 2], 8, rom=not writable) != writable
    dut = BlockedMemory(signed(5), len(init), init=init, words=8, writable=writable, logic_words=logic_words)
    order = [8, 0, 9, 4, 3, 7, 1, 9, 2, 6, 5, 8, 8, 9]
    got = []

    async def bench(ctx):
        if writable:      # overwrite word 6, then read it back
            ctx.set(dut.write_addr, 6)
            ctx.set(dut.write_data, -5)
            ctx.set(dut.write_en, 1)
            await ctx.tick()
            ctx.set(dut.write_en, 0)
        for cycle in range(len(order) + dut.latency):
            if cycle < len(order):
                ctx.set(dut.read_addr, order[cycle])
            if cycle >= dut.latency:
                got.append(ctx.get(dut.read_data))
            await ctx.tick()

    simulate(dut, bench)
    words = list(init)
    if writable:
        words[6] = -5
    assert got == [words[a] for a in order]


def _single_port_run(schedule):
    """Drive a :class:`SinglePortRam` with ``schedule`` (per cycle: read address or None, write
    (address, data) or None); return the read results ``(cycle, address, data)`` and ``lost``."""
    from hwgen.rtl.spram import SinglePortRam

    dut = SinglePortRam(signed(12), 40)
    reads, lost = [], []

    async def bench(ctx):
        pending = {}
        for cycle, (read, write) in enumerate(schedule + [(None, None)] * 4):
            ctx.set(dut.read_en, read is not None)
            ctx.set(dut.read_addr, read or 0)
            ctx.set(dut.write_en, write is not None)
            if write is not None:
                ctx.set(dut.write_addr, write[0])
                ctx.set(dut.write_data, write[1])
            if cycle - dut.latency in pending:
                reads.append((*pending.pop(cycle - dut.latency), ctx.get(dut.read_data)))
            if read is not None:
                pending[cycle] = (cycle, read)
            await ctx.tick()
        lost.append(ctx.get(dut.lost))

    simulate(dut, bench)
    return reads, lost[0]


def test_single_port_ram_delays_a_write_that_meets_a_read():
    """Reads at least two cycles apart, each group's write six cycles after its read (so writes
    meet reads): every read sees the last value written to its address, nothing is lost; reads
    and writes one cycle apart overwrite the waiting write and raise ``lost``."""
    rng = np.random.default_rng(3)
    cycles, model, schedule, writes = 0, {}, [], {}
    read_cycles = np.cumsum(rng.choice([2, 3, 4, 6], 60))
    for k, c in enumerate(read_cycles):
        writes[int(c) + 6] = (k % 40, int(rng.integers(-2048, 2048)))
    expected = []
    for cycle in range(int(read_cycles[-1]) + 7):
        read = None
        if cycle in set(read_cycles.tolist()):
            read = int(np.where(read_cycles == cycle)[0][0]) % 40
            expected.append((cycle, read, model.get(read)))
        write = writes.get(cycle)
        if write is not None:
            model[write[0]] = write[1]
        schedule.append((read, write))
    reads, lost = _single_port_run(schedule)
    assert lost == 0
    seen = [(c, a, d) for c, a, d in reads if (c, a, None) not in expected]   # skip never-written words
    assert seen == [e for e in expected if e[2] is not None]
    assert sum(w is not None and r is not None for r, w in schedule) > 5       # the port really was contended
    _, lost = _single_port_run([(1, (2, 5)), (3, (4, 6)), (5, None)])
    assert lost == 1
