"""The board's UART protocol, host side (``hwgen.rtl.uart_top`` is the board side).

One request per image, one reply per request; words little-endian two's
complement:

* request: ``0x49``, then ``prod(input.shape)`` pixel words of
  :attr:`Wire.pixel_bytes` bytes, C order;
* reply: ``0x52``, ``classes`` logits of :attr:`Wire.logit_bytes` bytes,
  the class (2 bytes), the start-to-done cycles (4 bytes);
* weight load (only for a loaded weight bank, ``--weights loaded``; once
  after configuration, before any image; no reply): ``0x57``, then the
  :attr:`Wire.weight_words` words of :meth:`hwgen.hwplan.Plan.weight_words`,
  each :attr:`Wire.weight_bytes` bytes, unsigned little-endian.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import HwgenError
from .hwplan import Plan

REQUEST, REPLY, LOAD = 0x49, 0x52, 0x57


def word_bytes(bits: int) -> int:
    """Bytes of a ``bits``-wide word on the wire."""
    return max(1, math.ceil(bits / 8))


@dataclass(frozen=True)
class Reply:
    """One decoded reply: ``logits`` (int64 ``[classes]``), ``label``, ``cycles``."""

    logits: np.ndarray
    label: int
    cycles: int


@dataclass(frozen=True)
class Wire:
    """Encoder/decoder for one accelerator's protocol.

    Parameters
    ----------
    pixels, pixel_bytes : int
        Words per image and bytes per word.
    classes, logit_bytes : int
        Logits per reply and bytes per logit.
    weight_words, weight_bytes : int
        Words of the weight load and bytes per word (0, 0: weights in ROM, no load).
    """

    pixels: int
    pixel_bytes: int
    classes: int
    logit_bytes: int
    weight_words: int = 0
    weight_bytes: int = 0

    @classmethod
    def for_plan(cls, plan: Plan) -> "Wire":
        spec = plan.network.input
        load = (int(plan.weights.shape[1]), word_bytes(plan.lanes * plan.weight_bits)) if plan.loaded else (0, 0)
        return cls(math.prod(spec.shape), word_bytes(spec.bits), math.prod(plan.out_shape),
                   word_bytes(plan.out_bits), *load)

    def load(self, words: list[int]) -> bytes:
        """The weight-load bytes for the bank's ``words`` (:meth:`hwgen.hwplan.Plan.weight_words`)."""
        if len(words) != self.weight_words:
            raise HwgenError(f"weight load has {len(words)} words, the accelerator takes {self.weight_words}")
        return bytes([LOAD]) + b"".join(int(w).to_bytes(self.weight_bytes, "little") for w in words)

    @property
    def reply_bytes(self) -> int:
        return 1 + self.classes * self.logit_bytes + 2 + 4

    def request(self, image: np.ndarray) -> bytes:
        """The request bytes of one image (any integer array of ``pixels`` words)."""
        words = np.asarray(image).reshape(-1)
        if words.size != self.pixels:
            raise HwgenError(f"image has {words.size} words, the accelerator takes {self.pixels}")
        body = b"".join(int(v).to_bytes(self.pixel_bytes, "little", signed=True) if v < 0 else
                        int(v).to_bytes(self.pixel_bytes, "little") for v in words.tolist())
        return bytes([REQUEST]) + body

    def decode(self, data: bytes) -> Reply:
        """Decode one reply; a clear error on a short or malformed one."""
        if len(data) != self.reply_bytes:
            raise HwgenError(f"board reply has {len(data)} bytes, expected {self.reply_bytes}")
        if data[0] != REPLY:
            raise HwgenError(f"board reply starts with 0x{data[0]:02x}, expected 0x{REPLY:02x}")
        lb, pos = self.logit_bytes, 1
        logits = [int.from_bytes(data[pos + i * lb: pos + (i + 1) * lb], "little", signed=True)
                  for i in range(self.classes)]
        pos += self.classes * lb
        label = int.from_bytes(data[pos:pos + 2], "little")
        cycles = int.from_bytes(data[pos + 2:pos + 6], "little")
        return Reply(np.array(logits, dtype=np.int64), label, cycles)
