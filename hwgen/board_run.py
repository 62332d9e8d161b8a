"""``hwgen board run``: send images to a board over its UART, check every answer.

Each reply's logits are compared with the golden model, its class with
their argmax and its cycle count with the cycle model, exactly, as in
``hwgen verify``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .boards import Board
from .errors import HwgenError
from .hwconfig import AccelConfig
from .hwplan import build_plan
from .network import Network
from .wire import Wire


@dataclass
class BoardRunResult:
    """What came back from the board, and every disagreement with the models."""

    images: int = 0
    mismatches: list = field(default_factory=list)         # (image, output, expected, got)
    class_mismatches: list = field(default_factory=list)   # (image, expected, got)
    cycle_mismatches: list = field(default_factory=list)   # (image, expected, got)
    cycles: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.class_mismatches or self.cycle_mismatches)

    def to_json(self) -> dict:
        return {"images": self.images, "mismatches": len(self.mismatches),
                "class_mismatches": len(self.class_mismatches), "cycle_mismatches": len(self.cycle_mismatches),
                "first_mismatches": self.mismatches[:5], "cycles": self.cycles}

    def summary(self, first: int = 5) -> str:
        lines = [f"{self.images} images on the board: {len(self.mismatches)} logit, "
                 f"{len(self.class_mismatches)} class, {len(self.cycle_mismatches)} cycle mismatches"]
        lines += [f"  image {i} output {o}: expected {e}, got {g}" for i, o, e, g in self.mismatches[:first]]
        lines += [f"  image {i} class: expected {e}, got {g}" for i, e, g in self.class_mismatches[:first]]
        lines += [f"  image {i} cycles: expected {e}, got {g}" for i, e, g in self.cycle_mismatches[:first]]
        return "\n".join(lines)


def open_serial(port: str, baud: int, timeout: float):
    """A pyserial port (imported on demand, a clear error when missing or busy)."""
    try:
        import serial
    except ImportError:
        raise HwgenError("hwgen board run needs pyserial: pip install pyserial") from None
    try:
        return serial.Serial(port, baud, timeout=timeout)
    except (serial.SerialException, OSError) as err:
        raise HwgenError(f"cannot open {port}: {err}") from None


def run_on_board(network: Network, board: Board, config: AccelConfig, images: np.ndarray, link, *,
                 on_image: Callable[[int], None] | None = None) -> BoardRunResult:
    """Send ``images`` through ``link`` (an open serial port: ``write``, ``read(n)``) and check the replies."""
    from .sim import golden
    from .sim.cycles import inference_cycles

    plan = build_plan(network, config)
    wire = Wire.for_plan(plan)
    want = golden.run(network, images)
    want_cycles = inference_cycles(network, config, images)
    result = BoardRunResult()
    if plan.loaded:
        link.write(wire.load(plan.weight_words()))
    for index, image in enumerate(images):
        link.write(wire.request(image))
        data = link.read(wire.reply_bytes)
        if len(data) < wire.reply_bytes:
            raise HwgenError(f"image {index}: the board sent {len(data)} of {wire.reply_bytes} reply bytes "
                             f"(is the bitstream for this network, --lanes and --mode loaded, at {board.baud} baud?)")
        reply = wire.decode(bytes(data))
        result.images += 1
        result.cycles.append(reply.cycles)
        for output, (e, g) in enumerate(zip(want.logits[index].tolist(), reply.logits.tolist())):
            if e != g:
                result.mismatches.append((index, output, e, g))
        if reply.label != int(want.prediction[index]):
            result.class_mismatches.append((index, int(want.prediction[index]), reply.label))
        if reply.cycles != int(want_cycles[index]):
            result.cycle_mismatches.append((index, int(want_cycles[index]), reply.cycles))
        if on_image:
            on_image(index)
    return result
