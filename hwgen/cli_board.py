"""Board verbs: ``hwgen build``, ``hwgen estimate``, ``hwgen boards`` (thin: parse, call, print)."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .cli import JsonOpt, NetDir, QuietOpt, app, finish, load_inputs
from .cli_hw import CacheOpt, Lanes, ModeOpt, _config

BoardOpt = typer.Option(..., "--board", "-b", help="board name (hwgen boards lists them)")
BuffersOpt = typer.Option("auto", "--buffers", help="spike buffers in block | distributed RAM; auto: "
                                                    "distributed when block RAM would overflow (ECP5)")


BoardWeightsOpt = typer.Option("auto", "--weights", help="rom | loaded (SPRAM the host loads, iCE40); auto: "
                                                         "loaded when the weight ROMs overflow block RAM")


BoardMembranesOpt = typer.Option("auto", "--membranes", help="block | spram (single-port, iCE40, dense); auto: "
                                                             "spram, cache off, when block RAM still overflows")
BoardMultipliersOpt = typer.Option("auto", "--multipliers", help="fabric | dsp (lane products in SB_MAC16, "
                                                                 "iCE40); auto: dsp when every lane gets one")


def _board_config(network, board, lanes: int, mode: str, buffers: str, weights: str = "auto",
                  membranes: str = "auto", cache: str = "auto", multipliers: str = "auto"):
    """The accelerator config for ``board``: ``auto`` asks :func:`hwgen.fit.fit_weights`
    (``--weights``), :func:`hwgen.fit.fit_membranes` (``--membranes``, with ``--cache``
    auto or off), :func:`hwgen.fit.fit_buffers` (``--buffers``) and
    :func:`hwgen.fit.fit_multipliers` (``--multipliers``), in that order."""
    from .errors import HwgenError
    from .fit import fit_buffers, fit_membranes, fit_multipliers, fit_weights

    if buffers not in ("auto", "block", "distributed"):
        raise HwgenError(f"--buffers must be auto, block or distributed, got {buffers!r}")
    if weights not in ("auto", "rom", "loaded"):
        raise HwgenError(f"--weights must be auto, rom or loaded, got {weights!r}")
    if membranes not in ("auto", "block", "spram"):
        raise HwgenError(f"--membranes must be auto, block or spram, got {membranes!r}")
    if multipliers not in ("auto", "fabric", "dsp"):
        raise HwgenError(f"--multipliers must be auto, fabric or dsp, got {multipliers!r}")
    config = _config(lanes, mode, "rom" if weights == "auto" else weights,
                     "block" if membranes == "auto" else membranes, cache,
                     multipliers="fabric" if multipliers == "auto" else multipliers)
    if weights == "auto":
        config = fit_weights(network, board, config)
    if membranes == "auto" and cache != "on":
        config = fit_membranes(network, board, config)
    config = fit_buffers(network, board, config) if buffers == "auto" else dataclasses.replace(config, buffers=buffers)
    return fit_multipliers(network, board, config) if multipliers == "auto" else config


@app.command("boards")
def list_boards():
    """List the boards hwgen builds for."""
    from .boards import load_board, names

    table = Table("board", "board (device)", "target MHz", "LUT", "BRAM", "SPRAM", "DSP", title="boards")
    for name in names():
        b = load_board(name)
        c = b.capacity
        table.add_row(name, f"{b.title}", f"{b.target_mhz:g}", str(c.lut), str(c.bram), str(c.spram), str(c.dsp))
    Console().print(table)


def resource_table(title: str, resources: dict) -> Table:
    """used / available / % per resource."""
    table = Table("resource", "used", "available", "%", title=title)
    for name, r in resources.items():
        avail = r.get("available")
        pct = f"{100 * r['used'] / avail:.0f}" if avail else "-"
        table.add_row(name, str(r["used"]), str(avail if avail is not None else "-"), pct)
    return table


@app.command()
def build(net_dir: Path = NetDir, board: str = BoardOpt,
          output: Path = typer.Option(Path("out/build"), "--output", "-o", help="folder for bitstream + report"),
          lanes: int = Lanes, mode: str = ModeOpt,
          input: Optional[Path] = typer.Option(None, "--input", "-i", help="sample images .npy for the cycle count"),
          buffers: str = BuffersOpt, weights: str = BoardWeightsOpt, membranes: str = BoardMembranesOpt,
          cache: str = CacheOpt, multipliers: str = BoardMultipliersOpt,
          as_json: bool = typer.Option(False, "--json", help="print the report as JSON only"),
          seeds: int = typer.Option(1, "--seeds", min=1, max=64,
                                    help="place and route with nextpnr seeds 1..N, keep the best Fmax"),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display")):
    """Synthesize, place and route with the open flow (YoWASP); write the bitstream and a resource/Fmax report.

    Exit code 0 when the design fits (even if timing is not met at the board's
    target: the report says so), 1 when it does not fit.
    """
    from .boards import load_board
    from .build import build as run_build
    from .netfile import load

    network, spec = load(net_dir), load_board(board)
    config = _board_config(network, spec, lanes, mode, buffers, weights, membranes, cache, multipliers)
    x = load_inputs(input) if input is not None else None
    console = Console(stderr=True, quiet=quiet or as_json)
    started = time.monotonic()
    with console.status("building") as status:
        def stage(name):
            console.log(f"{name} ({time.monotonic() - started:.0f} s)")
            status.update(f"{name} ...")

        report = run_build(network, spec, config, output, inputs=x, on_stage=stage, seeds=seeds)
    _print_report(report, as_json)
    if not report.fits:
        raise typer.Exit(1)


def _print_report(report, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1))
        return
    console = Console()
    console.print(resource_table(f"{report.board} ({report.device}), P={report.lanes} {report.mode}, "
                                 f"buffers in {report.buffers} RAM, weights in {report.weights}, "
                                 f"multipliers: {report.multipliers}",
                                 report.resources))
    if report.fmax_mhz is not None:
        met = "met" if report.timing_met else "NOT met"
        console.print(f"Fmax {report.fmax_mhz:.1f} MHz (target {report.target_mhz:g} MHz: {met}); "
                      f"{report.cycles} cycles/image ({report.cycles_basis}) -> {report.latency_us:.1f} us, "
                      f"{report.images_per_s:.0f} images/s at Fmax")
        if report.fmax_by_seed:
            tried = ", ".join(f"{seed}: {f:.1f}" for seed, f in report.fmax_by_seed.items())
            console.print(f"best of {len(report.fmax_by_seed)} nextpnr seeds (MHz by seed: {tried})")
    for line in report.overflow:
        console.print(f"[red]does not fit[/red] {line}")
    for line in report.advice:
        console.print(f"advice: {line}")
    if report.bitstream:
        console.print(f"bitstream: {report.bitstream}  ({report.seconds:.0f} s)")


@app.command()
def estimate(net_dir: Path = NetDir, board: str = BoardOpt, lanes: int = Lanes, mode: str = ModeOpt,
             input: Optional[Path] = typer.Option(None, "--input", "-i",
                                                  help="sample images .npy for spike activity and cycles"),
             buffers: str = BuffersOpt, weights: str = BoardWeightsOpt, membranes: str = BoardMembranesOpt,
             cache: str = CacheOpt, multipliers: str = BoardMultipliersOpt,
             as_json: bool = typer.Option(False, "--json", help="print the estimate as JSON only")):
    """Instant estimate, no synthesis: resources, cycles, latency, images/s, energy (SNN vs ANN)."""
    from .boards import load_board
    from .estimate import LOGIC_MARGIN, estimate as run_estimate
    from .netfile import load

    x, network, spec = load_inputs(input) if input is not None else None, load(net_dir), load_board(board)
    config = _board_config(network, spec, lanes, mode, buffers, weights, membranes, cache, multipliers)
    est = run_estimate(network, spec, config, x)
    if as_json:
        typer.echo(json.dumps(est.to_json(), indent=1))
        return
    console = Console()
    console.print(resource_table(f"estimate: {est.board}, P={est.lanes} {est.mode}, buffers in {est.buffers} RAM, "
                                 f"weights in {est.weights}, multipliers: {est.multipliers}",
                                 est.resources))
    console.print(f"Fmax ~{est.fmax_mhz:.0f} MHz; {est.cycles} cycles/image ({est.cycles_basis}) -> "
                  f"{est.latency_us:.1f} us, {est.images_per_s:.0f} images/s")
    e = est.energy
    table = Table("model", "SNN uJ", "ANN uJ", "SNN/ANN", title=f"energy per inference ({est.activity_basis})")
    table.add_row("burst-spike paper (4.6 pJ MAC, 0.9 pJ AC)", f"{e['paper_snn_pj'] / 1e6:.3f}",
                  f"{e['paper_ann_pj'] / 1e6:.3f}", f"{e['paper_ratio']:.2f}")
    table.add_row("Horowitz 45 nm ops + SRAM", f"{e['horowitz_snn_pj'] / 1e6:.3f}",
                  f"{e['horowitz_ann_pj'] / 1e6:.3f}", f"{e['horowitz_ratio']:.2f}")
    console.print(table)
    console.print(f"first-layer MACs {e['first_layer_macs']}, synaptic ops {e['synaptic_ops']:.0f}, "
                  f"ANN MACs {e['ann_macs']}")
    if not est.fits:
        over = [k for k, r in est.resources.items() if r["used"] > r["available"]]
        console.print(f"[red]estimated not to fit[/red]: {', '.join(over)}")
    for name in est.tight:
        r = est.resources[name]
        console.print(f"[yellow]{name} close to the device[/yellow]: {r['used']} of {r['available']} estimated, within "
                      f"the estimator's {LOGIC_MARGIN:.0%}: a build may not place; fewer lanes leave room")


board_app = typer.Typer(no_args_is_help=True, help="Talk to a board running an hwgen bitstream.")
app.add_typer(board_app, name="board")


@board_app.command("run")
def board_run(net_dir: Path = NetDir, board: str = BoardOpt,
              port: str = typer.Option(..., "--port", help="serial port, e.g. /dev/ttyUSB1"),
              input: Path = typer.Option(..., "--input", "-i", help="images .npy, [N, *input.shape]"),
              lanes: int = Lanes, mode: str = ModeOpt, weights: str = BoardWeightsOpt,
              membranes: str = BoardMembranesOpt, cache: str = CacheOpt,
              timeout: float = typer.Option(10.0, help="seconds to wait for each reply"),
              report: Optional[Path] = typer.Option(None, "--report", help="write the JSON result here"),
              as_json: bool = JsonOpt, quiet: bool = QuietOpt):
    """Send images to the board's UART; check logits, class and cycles against the golden and cycle models."""
    from .board_run import open_serial, run_on_board
    from .boards import load_board
    from .netfile import load
    from .progress import count_bar, stderr_console

    network, spec, x = load(net_dir), load_board(board), load_inputs(input)
    config = _board_config(network, spec, lanes, mode, "auto", weights, membranes, cache)   # as hwgen build chose
    link = open_serial(port, spec.baud, timeout)
    with link, count_bar(stderr_console(quiet or as_json), "board: images", len(x)) as update:
        result = run_on_board(network, spec, config, x, link, on_image=lambda i: update(i + 1))
    finish(result, report, as_json)
