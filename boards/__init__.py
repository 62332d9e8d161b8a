"""Boards hwgen builds for: one small TOML file each, on amaranth-boards.

A board file names the amaranth-boards platform, the FPGA family, the
timing target and the device's capacity (what :mod:`hwgen.estimate` and
``hwgen build`` compare against). To add a board, drop ``NAME.toml`` here
with the same keys (see ``icebreaker.toml``).
"""
from __future__ import annotations

import copy
import enum
import importlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hwgen.errors import HwgenError


class Family(str, enum.Enum):
    """FPGA families the open flow (yosys + nextpnr from PyPI) builds."""

    ICE40 = "ice40"
    ECP5 = "ecp5"


@dataclass(frozen=True)
class Capacity:
    """Resources of the device: LUT4s, flip-flops, block RAMs (and their bits), SPRAMs, DSPs."""

    lut: int
    ff: int
    bram: int
    bram_bits: int
    spram: int
    dsp: int


@dataclass(frozen=True)
class Board:
    """One board file, validated."""

    name: str
    title: str
    platform: str
    family: Family
    target_mhz: float
    baud: int
    capacity: Capacity

    def platform_class(self):
        """The amaranth-boards platform class (imported on demand)."""
        module, _, attr = self.platform.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise HwgenError(f"board {self.name!r}: platform {self.platform!r} not importable ({err}); "
                             "pip install amaranth-boards==0.0.21") from None

    def make_platform(self):
        """A platform whose default clock carries the timing target :attr:`target_mhz`.

        The clock on the board is unchanged; only the constraint handed to
        nextpnr asks for :attr:`target_mhz`, so that its report says whether
        the design would meet that clock (behind a PLL) and what Fmax it has.
        """
        from amaranth.build import Clock

        cls = self.platform_class()
        target = self.target_mhz * 1e6
        resources_ = []
        for res in cls.resources:
            if res.name == cls.default_clk and res.number == 0:
                res = copy.copy(res)
                res.clock = Clock(target)
            resources_.append(res)
        tuned = type(f"{cls.__name__}Timed", (cls,), {"resources": resources_})
        platform = tuned()
        platform.board_clock_hz = cls().default_clk_frequency
        return platform


def _field(doc: dict, key: str, kind, where: str):
    if key not in doc:
        raise HwgenError(f"{where}: missing field {key!r}")
    value = doc[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise HwgenError(f"{where}: field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def parse_board(doc: dict, where: str) -> Board:
    """Validate a board file's table; errors name the file and the field."""
    try:
        family = Family(_field(doc, "family", str, where))
    except ValueError:
        raise HwgenError(f"{where}: field 'family' must be one of "
                         f"{[f.value for f in Family]}, got {doc['family']!r}") from None
    cap = doc.get("capacity")
    if not isinstance(cap, dict):
        raise HwgenError(f"{where}: missing table [capacity]")
    capacity = Capacity(**{k: _field(cap, k, int, f"{where} [capacity]") for k in Capacity.__dataclass_fields__})
    board = Board(_field(doc, "name", str, where), _field(doc, "title", str, where),
                  _field(doc, "platform", str, where), family, _field(doc, "target_mhz", float, where),
                  _field(doc, "baud", int, where), capacity)
    if board.target_mhz <= 0 or board.baud <= 0:
        raise HwgenError(f"{where}: target_mhz and baud must be > 0")
    return board


def names() -> list[str]:
    """The board names shipped with hwgen, sorted."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def load_board(name: str) -> Board:
    """The board called ``name``, or the board file at path ``name`` (``*.toml``);
    a clear error listing the known ones otherwise."""
    if name.endswith(".toml"):
        path = Path(name)
        try:
            text = path.read_text()
        except OSError as err:
            raise HwgenError(f"board file {name}: {err.strerror or err}") from None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise HwgenError(f"board file {name}: not valid TOML ({err})") from None
        return parse_board(doc, f"board file {path.name}")
    if name not in names():
        raise HwgenError(f"unknown board {name!r}; known boards: {', '.join(names())} (or a path to a .toml file)")
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text()
    return parse_board(tomllib.loads(text), f"board file {name}.toml")
