"""Reusable cocotb pieces: a stream driver, a stream sink, a scoreboard.

Signals are sampled and driven on the falling clock edge, so the benches
behave the same on Icarus and on Verilator (whose rising-edge callbacks may
already see the registers' new values); transfers happen on rising edges.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cocotb.triggers import FallingEdge


class StreamDriver:
    """Drive an Amaranth ``lib.stream`` input (``payload``/``valid``/``ready``)."""

    def __init__(self, clk, payload, valid, ready):
        self.clk, self.payload, self.valid, self.ready = clk, payload, valid, ready
        self.valid.value = 0

    async def send(self, words):
        """Send ``words``, one a beat (``ready`` is sampled mid-cycle, stable until the rise)."""
        for word in words:
            await FallingEdge(self.clk)
            while not self.ready.value:
                self.valid.value = 0
                await FallingEdge(self.clk)
            self.payload.value = int(word)
            self.valid.value = 1
        await FallingEdge(self.clk)
        self.valid.value = 0


class StreamSink:
    """Receive words from an Amaranth ``lib.stream`` output, always ready."""

    def __init__(self, clk, payload, valid, ready, signed: bool = True):
        self.clk, self.payload, self.valid, self.ready, self.signed = clk, payload, valid, ready, signed
        self.ready.value = 0

    async def receive(self, count: int) -> list[int]:
        """The next ``count`` words (``ready`` stays up through the last beat's rising edge)."""
        self.ready.value = 1
        words = []
        while len(words) < count:
            await FallingEdge(self.clk)
            if self.valid.value:                 # transfers at the next rising edge
                value = self.payload.value
                words.append(value.to_signed() if self.signed else value.to_unsigned())
        await FallingEdge(self.clk)
        self.ready.value = 0
        return words


@dataclass
class Scoreboard:
    """Compare every output and every cycle count with the expected ones."""

    expected: list[list[int]]
    expected_cycles: list[int]
    mismatches: list[tuple[int, int, int, int]] = field(default_factory=list)
    cycle_mismatches: list[tuple[int, int, int]] = field(default_factory=list)
    logits: list[list[int]] = field(default_factory=list)
    cycles: list[int] = field(default_factory=list)

    def check(self, image: int, logits: list[int], cycles: int):
        self.logits.append(logits)
        self.cycles.append(cycles)
        for output, (want, got) in enumerate(zip(self.expected[image], logits)):
            if want != got:
                self.mismatches.append((image, output, want, got))
        if cycles != self.expected_cycles[image]:
            self.cycle_mismatches.append((image, self.expected_cycles[image], cycles))

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.cycle_mismatches

    def summary(self, first: int = 5) -> str:
        lines = [f"{len(self.logits)} images, {len(self.mismatches)} logit mismatches, "
                 f"{len(self.cycle_mismatches)} cycle mismatches"]
        lines += [f"  image {i} output {o}: expected {e}, got {g}" for i, o, e, g in self.mismatches[:first]]
        lines += [f"  image {i} cycles: expected {e}, got {g}" for i, e, g in self.cycle_mismatches[:first]]
        return "\n".join(lines)
