"""Reuse a passing verification when nothing it depends on has changed.

``hwgen demo`` verifies the same Verilog on the same images every time it
runs with a cached model; the result is a pure function of its inputs, as a
build system's target is of its sources. :func:`key` hashes all of them:
the network files, the emitted Verilog, the images, the simulator, the
accelerator config, the hwgen version and the source of every module that
decides the expected values, the simulated netlist or the bench. Only
passing results are stored (in the user cache dir, beside the trained
model); ``hwgen demo --reverify`` ignores them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from . import __version__
from .hwconfig import AccelConfig

#: Modules whose source decides a verification's outcome.
MODULES = ("hwgen.hwverify", "hwgen.simnetlist", "hwgen.generate", "hwgen.hwplan", "hwgen.fixedpoint",
           "hwgen.sim.golden", "hwgen.sim.cycles", "hwgen.sim.ops", "hwgen.sim.bench.cocotb_accel",
           "hwgen.sim.bench.cocotb_lib")


def _module_file(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    return Path(spec.origin)


def key(net_dir: Path, verilog: Path, images: np.ndarray, simulator: str, config: AccelConfig) -> str:
    """SHA-256 over everything the verification result depends on."""
    digest = hashlib.sha256()
    for path in sorted(net_dir.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(verilog.read_bytes())
    digest.update(f"{images.dtype}{images.shape}".encode() + np.ascontiguousarray(images).tobytes())
    digest.update(json.dumps([simulator, config.to_json(), __version__]).encode())
    for name in MODULES:
        digest.update(_module_file(name).read_bytes())
    return digest.hexdigest()


def _path(digest: str) -> Path:
    from .train import cache_dir

    return cache_dir() / f"verify-{digest[:32]}.json"


def load(digest: str) -> dict | None:
    """The stored passing result for ``digest``, or ``None``."""
    path = _path(digest)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def store(digest: str, doc: dict) -> None:
    """Keep a passing result (written whole, then renamed: never half a file)."""
    path = _path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    part.write_text(json.dumps(doc, indent=1) + "\n")
    part.replace(path)
