"""The accelerator's typed configuration (``--lanes``, ``--mode``).

The configuration is a frozen dataclass validated on construction; every
problem is a :class:`~hwgen.errors.HwgenError` naming the field.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import HwgenError

#: Largest lane count hwgen generates (one weight bank and membrane bank each).
MAX_LANES = 256


class Mode(str, enum.Enum):
    """How the input sequencer walks a layer's fan-in.

    ``DENSE`` visits every synapse; ``EVENT`` first compacts the non-zero
    spike counts of the layer's input into an event list and visits only
    those (its cycles depend on the activity).
    """

    DENSE = "dense"
    EVENT = "event"


class BufferRam(str, enum.Enum):
    """Where the spike buffers (input image and ping-pong spike counts) live.

    ``BLOCK`` lets synthesis choose (block RAM for all but tiny buffers);
    ``DISTRIBUTED`` asks for LUT RAM (yosys ``ram_style``), freeing block RAM
    on families that have it (ECP5) when weights and membranes need it all.
    """

    BLOCK = "block"
    DISTRIBUTED = "distributed"


class WeightStore(str, enum.Enum):
    """Where the weights live.

    ``ROM`` keeps each lane's weights in a ROM initialised by the bitstream
    (block RAM or logic). ``LOADED`` keeps all lanes' weights side by side in
    one RAM (:class:`hwgen.rtl.weightbank.WeightBank`, iCE40 SPRAM on an
    iCE40 build) that the host writes through the ``weights`` port (or the
    UART ``'W'`` command) before the first inference: SPRAM has no initial
    contents, and it holds 1 Mbit on the UP5K against 120 kbit of EBR.
    """

    ROM = "rom"
    LOADED = "loaded"


class MembraneRam(str, enum.Enum):
    """Where the membranes (and the output accumulators) live.

    ``BLOCK``: one dual-port RAM per lane (block RAM), read and written in
    the same cycle when groups stream back to back. ``SPRAM``: one
    single-port RAM per lane (:class:`hwgen.rtl.spram.SinglePortRam`: on
    iCE40 its 16-bit columns are ``SB_SPRAM256KA``, the rest of the word
    block RAM); a write that meets a read waits one cycle in a register, which
    needs every group to have at least two tokens (dense mode).
    """

    BLOCK = "block"
    SPRAM = "spram"


class Multipliers(str, enum.Enum):
    """How the lanes form the synapse product :math:`x w` (:mod:`hwgen.rtl.multiply`).

    ``FABRIC``: a shift-add tree in LUTs and carry chains. ``DSP``: ``x * w``
    with the product's three pipeline registers free of resets, which Yosys
    (``synth_ice40 -dsp``) packs with the multiply into one iCE40 ``SB_MAC16``
    per lane (its multiplier and output registers); vendor tools infer their
    own DSP blocks from the same Verilog.
    """

    FABRIC = "fabric"
    DSP = "dsp"


@dataclass(frozen=True)
class AccelConfig:
    """Parameters of one generated accelerator.

    Parameters
    ----------
    lanes : int
        :math:`P`, the number of neuron lanes: output channels (or output
        features) computed in parallel, ``1 <= P <= 256``.
    mode : Mode
        ``Mode.DENSE`` or ``Mode.EVENT`` (a string ``"dense"``/``"event"`` is
        accepted and converted).
    buffers : BufferRam
        RAM style of the spike buffers (a string is accepted and converted).
    weights : WeightStore
        Weight ROMs in the bitstream or one RAM loaded at run time (a string
        is accepted and converted).
    membranes : MembraneRam
        Dual-port block RAM or single-port RAM (SPRAM) per lane (a string is
        accepted and converted).
    cache : bool
        Keep the first layer's current from ``t = 0`` in a per-lane cache and
        read it back at ``t >= 1`` (one token a group) instead of recomputing
        the layer at every step.
    multipliers : Multipliers
        Lane products in the fabric or in DSP blocks (a string is accepted
        and converted).
    """

    lanes: int = 1
    mode: Mode = Mode.DENSE
    buffers: BufferRam = BufferRam.BLOCK
    weights: WeightStore = WeightStore.ROM
    membranes: MembraneRam = MembraneRam.BLOCK
    cache: bool = True
    multipliers: Multipliers = Multipliers.FABRIC

    def __post_init__(self):
        if not isinstance(self.lanes, int) or isinstance(self.lanes, bool) \
                or not 1 <= self.lanes <= MAX_LANES:
            raise HwgenError(f"lanes must be an integer in [1, {MAX_LANES}], got {self.lanes!r}")
        for name, kind in (("mode", Mode), ("buffers", BufferRam), ("weights", WeightStore),
                           ("membranes", MembraneRam), ("multipliers", Multipliers)):
            self._coerce(name, kind)
        if not isinstance(self.cache, bool):
            raise HwgenError(f"cache must be true or false, got {self.cache!r}")
        if self.membranes is MembraneRam.SPRAM and self.mode is Mode.EVENT:
            raise HwgenError("membranes='spram' needs mode='dense' (event-mode groups can be one token long, "
                             "and a single-port membrane RAM needs two)")

    def _coerce(self, name: str, kind: type[enum.Enum]) -> None:
        """Field ``name`` as a ``kind`` member (a string is converted), or a one-line error."""
        value = getattr(self, name)
        if isinstance(value, kind):
            return
        try:
            object.__setattr__(self, name, kind(value))
        except ValueError:
            allowed = " or ".join(f"'{member.value}'" for member in kind)
            raise HwgenError(f"{name} must be {allowed}, got {value!r}") from None

    @property
    def buffer_attrs(self) -> dict:
        """Memory attributes of the spike buffers (for :class:`amaranth.lib.memory.Memory`)."""
        return {"ram_style": "distributed"} if self.buffers is BufferRam.DISTRIBUTED else {}

    def describe(self) -> str:
        """``P=2 dense, weights loaded, membranes spram, no cache`` (the non-default choices)."""
        extra = [f"{k} {v}" for k, v in self.to_json().items() if k not in ("lanes", "mode", "cache")]
        return ", ".join([f"P={self.lanes} {self.mode.value}", *extra, *([] if self.cache else ["no cache"])])

    def to_json(self) -> dict:
        doc = {"lanes": self.lanes, "mode": self.mode.value}
        if self.buffers is not BufferRam.BLOCK:
            doc["buffers"] = self.buffers.value
        if self.weights is not WeightStore.ROM:
            doc["weights"] = self.weights.value
        if self.membranes is not MembraneRam.BLOCK:
            doc["membranes"] = self.membranes.value
        if not self.cache:
            doc["cache"] = False
        if self.multipliers is not Multipliers.FABRIC:
            doc["multipliers"] = self.multipliers.value
        return doc
