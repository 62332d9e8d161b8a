"""``hwgen report``: the HTML + Markdown report of a network (thin: parse, call, print)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .cli import NetDir, app, load_inputs
from .cli_board import BoardMembranesOpt, BoardWeightsOpt, BuffersOpt, _board_config
from .cli_hw import CacheOpt, Lanes, ModeOpt
from .errors import HwgenError


def _json(path: Optional[Path]) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise HwgenError(f"{path}: not a readable JSON report ({err})") from None


@app.command()
def report(net_dir: Path = NetDir,
           output: Path = typer.Option(None, "--output", "-o", help="folder for report.html/.md "
                                       "(default: beside the network folder)"),
           input: Optional[Path] = typer.Option(None, "--input", "-i", help="images .npy (default: the demo's)"),
           labels: Optional[Path] = typer.Option(None, "--labels", help="labels .npy, for accuracy vs T"),
           board: str = typer.Option("ulx3s-25f", "--board", "-b"), lanes: int = Lanes, mode: str = ModeOpt,
           build_report: Optional[Path] = typer.Option(None, "--build-report", help="a hwgen build JSON"),
           verify_report: Optional[Path] = typer.Option(None, "--verify-report", help="a hwgen verify JSON"),
           buffers: str = BuffersOpt, weights: str = BoardWeightsOpt, membranes: str = BoardMembranesOpt,
           cache: str = CacheOpt):
    """Write report.html and report.md: accuracy, spike density, resources, latency, energy, verification."""
    from .boards import load_board
    from .netfile import load
    from .report import collect, write_report

    network = load(net_dir)
    here = net_dir.parent
    input = input or (here / "test_images.npy" if (here / "test_images.npy").is_file() else None)
    if input is None:
        raise HwgenError("--input is required (images .npy) when the folder is not a demo output")
    if labels is None and input == here / "test_images.npy" and (here / "test_labels.npy").is_file():
        labels = here / "test_labels.npy"
    x = load_inputs(input)
    y = load_inputs(labels) if labels is not None else None
    built = _json(build_report)
    spec = load_board(board)
    buffers = built.get("buffers", buffers) if built and buffers == "auto" else buffers
    weights = built.get("weights", weights) if built and weights == "auto" else weights
    multipliers = built.get("multipliers", "fabric") if built else "auto"
    if built and membranes == "auto":
        membranes = built.get("membranes", "auto")
        cache = "on" if built.get("cache", True) else "off"
    config = _board_config(network, spec, lanes, mode, buffers, weights, membranes, cache, multipliers)
    sections = collect(network, net_dir, x, y, spec, config,
                       built, _json(verify_report))
    written = write_report(sections, f"hwgen report: {net_dir}", output or here)
    typer.echo(json.dumps({k: str(v) for k, v in written.items()}))
