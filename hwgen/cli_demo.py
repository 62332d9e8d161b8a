"""``hwgen demo``: train (cached), convert, simulate, print the accuracy table."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from .cli import JsonOpt, QuietOpt, app


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="output folder"),
         data: Optional[Path] = typer.Option(None, help="folder with the Fashion-MNIST IDX .gz files "
                                                         "(default: $HWGEN_FASHION_MNIST, then Debian's)"),
         timesteps: int = typer.Option(4, "--timesteps", "-T", min=1, help="timesteps of the saved network"),
         burst: int = typer.Option(1, min=1, help="burst cap Γ of every spiking layer"),
         test_images: Optional[int] = typer.Option(None, min=1, help="evaluate on the first N test images"),
         bias_calibration: str = typer.Option("none", help="SNN bias calibration of the saved network: none, "
                                                           "mean or mse (see hwgen convert --help)"),
         lanes: int = typer.Option(16, "--lanes", "-p", help="neuron lanes of the generated accelerator"),
         mode: str = typer.Option("event", "--mode", "-m", help="dense | event"),
         verify_images: int = typer.Option(100, min=0, help="test images verified in cocotb (0: skip)"),
         sim: str = typer.Option("icarus", "--sim", help="icarus | verilator"),
         board: str = typer.Option("icebreaker", "--board", "-b", help="board to estimate and build for"),
         build: bool = typer.Option(True, "--build/--no-build", help="run the open FPGA flow when installed"),
         reverify: bool = typer.Option(False, "--reverify", help="verify again even if a passing result of the "
                                                                  "same Verilog and images is stored"),
         as_json: bool = JsonOpt, quiet: bool = QuietOpt):
    """Fashion-MNIST end to end: train the QCFS CNN (cached), convert, simulate, generate Verilog,
    verify it in cocotb, estimate, build for a board, and write out/demo/report.html."""
    from rich.console import Console

    from .demo import DemoConfig, run_demo
    from .demo_hw import HardwareDemo, run_hardware
    from .boards import load_board
    from .errors import HwgenError
    from .convert.config import ConvertConfig
    from .hwconfig import AccelConfig
    from .hwverify import SIMULATORS

    config = AccelConfig(lanes, mode)          # validate before the long steps
    ConvertConfig(timesteps=timesteps, burst=burst, bias_calibration=bias_calibration)
    load_board(board)
    if sim not in SIMULATORS:
        raise HwgenError(f"--sim must be one of {', '.join(SIMULATORS)}, got {sim!r}")
    console = Console(quiet=quiet or as_json)
    started = time.monotonic()
    summary = run_demo(DemoConfig(out=out, data=data, timesteps=timesteps, burst=burst, test_images=test_images,
                                  bias_calibration=bias_calibration), console)
    hardware = HardwareDemo(config.lanes, config.mode, verify_images, sim, board, build, reverify)
    summary.update(run_hardware(out, hardware, console))
    summary["seconds"] = round(time.monotonic() - started, 1)
    console.print(f"demo done in {summary['seconds']:.0f} s")
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
