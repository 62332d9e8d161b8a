"""The ``hwgen`` command line: thin verbs that parse, call the library, print.

Bad input (a :class:`~hwgen.errors.HwgenError`) prints one line on stderr and
exits with code 2; nothing is half-written.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from .errors import HwgenError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Trained PyTorch network -> verified spiking-neural-network accelerator.")

NetDir = typer.Argument(..., exists=False, help="hwgen-snn/1 network folder")
JsonOpt = typer.Option(False, "--json", help="print the result as JSON only (for scripts)")
QuietOpt = typer.Option(False, "--quiet", "-q", help="no progress display")


def load_inputs(path: Path) -> np.ndarray:
    if not path.is_file():
        raise HwgenError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise HwgenError(f"{path}: not a readable .npy ({err})") from None


def finish(result, report: Optional[Path], as_json: bool = False) -> None:
    """Write ``result.to_json()`` to ``report`` (if given); print the summary (or, with
    ``as_json``, the JSON); exit 1 unless ``result.ok``."""
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    typer.echo(json.dumps(result.to_json(), indent=1) if as_json else result.summary())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def validate(net_dir: Path = NetDir):
    """Check a network folder against SPEC.md and print a summary."""
    from .netfile import load
    from .report_text import network_table

    network = load(net_dir)
    from rich.console import Console

    Console().print(network_table(network))


@app.command()
def run(net_dir: Path = NetDir,
        input: Path = typer.Option(..., "--input", "-i", help="images .npy, [N, *input.shape], integers"),
        output: Path = typer.Option(..., "--output", "-o", help="results .npz"),
        labels: Optional[Path] = typer.Option(None, help="labels .npy, to print accuracy"),
        batch_size: int = typer.Option(512, min=1),
        lanes: Optional[int] = typer.Option(None, "--lanes", help="also give the accelerator's cycles [N]"),
        mode: str = typer.Option("dense", "--mode", help="dense | event (with --lanes)"),
        quiet: bool = QuietOpt):
    """Run the bit-exact golden model; write logits, predictions, spike totals
    (and, with ``--lanes``, each image's accelerator ``cycles``)."""
    from .netfile import load
    from .sim import golden
    from .sim.results import save_results

    from .progress import count_bar, stderr_console

    network = load(net_dir)
    x = load_inputs(input)
    with count_bar(stderr_console(quiet), "golden model: images", len(x)) as update:
        done = []                                   # golden.run reports each batch's size
        result = golden.run(network, x, batch_size=batch_size,
                            progress=lambda batch: (done.append(batch), update(sum(done))))
    extra = {}
    if lanes is not None:
        from .hwconfig import AccelConfig
        from .sim.cycles import inference_cycles

        extra["cycles"] = inference_cycles(network, AccelConfig(lanes, mode), x)
    save_results(output, result, **extra)
    summary = {"images": int(len(x)), "output": str(output)}
    if lanes is not None:
        summary["cycles"] = extra["cycles"].tolist()
    if labels is not None:
        y = load_inputs(labels)
        if y.shape != (len(x),):
            raise HwgenError(f"{labels}: labels must have shape [{len(x)}], got {list(y.shape)}")
        summary["accuracy"] = float((result.prediction == y).mean())
    typer.echo(json.dumps(summary))


# Each group of verbs lives in its own module and registers on ``app``.
from . import cli_board, cli_convert, cli_demo, cli_hw, cli_report  # noqa: E402,F401


def main() -> None:
    """Entry point: run the app, turning bad input into one line and exit 2."""
    try:
        app()
    except HwgenError as err:
        typer.echo(f"hwgen: error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
