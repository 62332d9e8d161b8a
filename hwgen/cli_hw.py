"""Hardware verbs: ``hwgen generate`` and ``hwgen verify`` (thin: parse, call, print)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .cli import JsonOpt, NetDir, QuietOpt, app, finish, load_inputs
from .errors import HwgenError

Lanes = typer.Option(1, "--lanes", "-p", help="neuron lanes P (output neurons in parallel)")
ModeOpt = typer.Option("dense", "--mode", "-m", help="dense | event")
WeightsOpt = typer.Option("rom", "--weights", help="rom: weights in ROMs the bitstream sets | loaded: one RAM "
                                                   "the host loads at run time (SPRAM on iCE40)")

MembranesOpt = typer.Option("block", "--membranes", help="block: dual-port RAM per lane | spram: single-port "
                                                         "RAM per lane (SPRAM on iCE40; dense mode)")
BuffersOpt = typer.Option("block", "--buffers", help="block | distributed: spike buffers in block or LUT RAM "
                                                      "(the design hwgen build makes with --buffers distributed)")
MultipliersOpt = typer.Option("fabric", "--multipliers", help="fabric: shift-add products in logic | dsp: x * w "
                                                               "for DSP blocks (iCE40 SB_MAC16)")
CacheOpt = typer.Option("auto", "--cache", help="on | off: keep the first layer's current from t = 0 "
                                                "(auto: off with --membranes spram, else on)")


def _config(lanes: int, mode: str, weights: str = "rom", membranes: str = "block", cache: str = "auto",
            buffers: str = "block", multipliers: str = "fabric"):
    """The :class:`~hwgen.hwconfig.AccelConfig` of the options (``--cache auto`` resolved)."""
    from .hwconfig import AccelConfig

    if cache not in ("auto", "on", "off"):
        raise HwgenError(f"--cache must be auto, on or off, got {cache!r}")
    use_cache = cache == "on" or (cache == "auto" and membranes != "spram")
    return AccelConfig(lanes, mode, buffers=buffers, weights=weights, membranes=membranes, cache=use_cache,
                       multipliers=multipliers)


@app.command()
def generate(net_dir: Path = NetDir,
             out_dir: Path = typer.Option(..., "--output", "-o", help="folder for hwgen_accel.v/.json"),
             lanes: int = Lanes, mode: str = ModeOpt, weights: str = WeightsOpt,
             membranes: str = MembranesOpt, cache: str = CacheOpt, buffers: str = BuffersOpt,
             multipliers: str = MultipliersOpt,
             uart_clock_mhz: Optional[float] = typer.Option(
                 None, "--uart-clock-mhz", help="also write hwgen_uart.v (UART board top) for this clock"),
             baud: int = typer.Option(1_000_000, "--baud", help="UART baud rate of hwgen_uart.v")):
    """Write the accelerator's Verilog and a JSON of its parameters and memory sizes
    (with ``--uart-clock-mhz``, also the UART board top for vendor flows)."""
    from .generate import generate as run_generate
    from .netfile import load

    config = _config(lanes, mode, weights, membranes, cache, buffers, multipliers)
    if uart_clock_mhz is not None and uart_clock_mhz <= 0:
        raise HwgenError(f"--uart-clock-mhz must be > 0, got {uart_clock_mhz}")
    uart = (uart_clock_mhz * 1e6, baud) if uart_clock_mhz is not None else None
    written = run_generate(load(net_dir), out_dir, config, uart=uart)
    typer.echo(json.dumps({name: str(path) for name, path in written.items()}))


@app.command()
def verify(net_dir: Path = NetDir,
           input: Path = typer.Option(..., "--input", "-i", help="images .npy, [N, *input.shape]"),
           sim: str = typer.Option("icarus", "--sim", help="icarus | verilator"),
           lanes: int = Lanes, mode: str = ModeOpt, weights: str = WeightsOpt,
           membranes: str = MembranesOpt, cache: str = CacheOpt, buffers: str = BuffersOpt,
           multipliers: str = MultipliersOpt,
           report: Optional[Path] = typer.Option(None, "--report", help="write the JSON report here"),
           build_dir: Optional[Path] = typer.Option(None, "--build-dir", help="keep the simulator build here"),
           fast_build: bool = typer.Option(False, "--fast-build", help="Verilator: -O0 C++ (quicker build)"),
           icarus_verilog: bool = typer.Option(False, "--icarus-verilog",
                                               help="Icarus: simulate the emitted Verilog itself (slower)"),
           jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="simulator processes at once (images shared out)"),
           as_json: bool = JsonOpt, quiet: bool = QuietOpt):
    """Simulate the generated Verilog on images; compare logits and cycles exactly."""
    from .hwverify import verify as run_verify
    from .netfile import load
    from .progress import count_bar, stderr_console

    config = _config(lanes, mode, weights, membranes, cache, buffers, multipliers)
    network, x = load(net_dir), load_inputs(input)
    console = stderr_console(quiet or as_json)
    with count_bar(console, f"{sim}: build, then images", len(x)) as update:
        result = run_verify(network, x, config, sim, build_dir=build_dir, fast_build=fast_build,
                            icarus_verilog=icarus_verilog, jobs=jobs, on_progress=update)
    finish(result, report, as_json)
