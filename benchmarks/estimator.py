"""Calibrate ``hwgen estimate`` against ``hwgen build`` on both FPGA families.

Builds a sweep of networks and lane counts with the open flow, fits the
estimator's linear LUT/FF/Fmax model (``hwgen/estimate_model.json``) by least
squares, and reports each point's error both in-sample and leave-one-out
(the point predicted by a fit that did not see it: the honest figure).
Block RAM and DSP counts are not fitted (structural model), so their error
is reported as is.

    .venv/bin/python benchmarks/estimator.py            # ~30-60 min on 2 cores
    .venv/bin/python benchmarks/estimator.py --write-model   # also update the shipped coefficients
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hwgen.boards import load_board
from hwgen.build import build
from hwgen.boards import Family
from hwgen.estimate import bram_blocks, dsp_count, logic_features, lutram_cells, predict_logic
from hwgen.hwconfig import AccelConfig
from hwgen.hwplan import build_plan
from hwgen.sim.bench.nets import demo_like, with_widths

RESULTS = Path(__file__).parent / "results"
MODEL = Path(__file__).parent.parent / "hwgen" / "estimate_model.json"
NETS = {
    "tiny": lambda: demo_like(0, size=8, channels=(2, 4), hidden=8),
    "small": lambda: demo_like(1, size=12, channels=(4, 8), hidden=16),
    "demo-shape": lambda: demo_like(2),
    "demo-20": lambda: with_widths(demo_like(2), 20),
    "tiny-16": lambda: with_widths(demo_like(0, size=8, channels=(2, 4), hidden=8), 16),
    "small-20": lambda: with_widths(demo_like(1, size=12, channels=(4, 8), hidden=16), 20),
}
SWEEP = [("icebreaker", "tiny", 1), ("icebreaker", "tiny", 2), ("icebreaker", "tiny", 4),
         ("icebreaker", "small", 1), ("icebreaker", "small", 2),
         ("ulx3s-25f", "tiny", 2), ("ulx3s-25f", "tiny", 8), ("ulx3s-25f", "small", 4),
         ("ulx3s-25f", "small", 16), ("ulx3s-85f", "demo-shape", 8), ("ulx3s-85f", "demo-shape", 16),
         ("ulx3s-25f", "demo-shape", 8, "distributed"),
         ("icebreaker", "tiny", 2, "block", "loaded"), ("icebreaker", "small", 2, "block", "loaded"),
         ("icebreaker", "small", 4, "block", "loaded"),
         ("icebreaker", "tiny", 2, "block", "rom", "spram"), ("icebreaker", "small", 1, "block", "rom", "spram"),
         ("icebreaker", "demo-20", 2, "block", "loaded", "spram"), ("icebreaker", "tiny-16", 2),
         ("icebreaker", "small-20", 2, "block", "loaded", "spram"),
         ("ulx3s-25f", "tiny", 4), ("ulx3s-25f", "small", 8), ("ulx3s-25f", "tiny-16", 8),
         ("ulx3s-85f", "demo-shape", 4), ("ulx3s-25f", "small-20", 8),
         ("ulx3s-25f", "small", 8, "distributed")]
# Every iCE40 point again with its products in SB_MAC16 blocks (the tiny net at P=4 fits only so).
SWEEP += [(*_e, *["block", "rom", "block"][len(_e) - 3:], "dsp") for _e in SWEEP if _e[0] == "icebreaker"]
DEFAULTS = ["block", "rom", "block", "fabric"]        # buffers, weights, membranes, multipliers
KEYS = ("buffers", "weights", "membranes", "multipliers")


def _point(entry) -> tuple:
    """``(board, net, lanes, buffers, weights, membranes, multipliers)`` of a sweep entry or row
    (:data:`DEFAULTS`)."""
    if isinstance(entry, dict):
        return (entry["board"], entry["net"], entry["lanes"], *(entry.get(k, d) for k, d in zip(KEYS, DEFAULTS)))
    board, net, lanes, *rest = entry
    memories = list(DEFAULTS)
    memories[:len(rest)] = rest
    return board, net, lanes, *memories


def _config(entry) -> AccelConfig:
    """Single-port membranes go with no first-layer cache (its pass is one token a group)."""
    _, _, lanes, buffers, weights, membranes, multipliers = _point(entry)
    return AccelConfig(lanes, buffers=buffers, weights=weights, membranes=membranes, cache=membranes == "block",
                       multipliers=multipliers)


def _plan(row: dict):
    return build_plan(NETS[row["net"]](), _config(row))


def measure(out: Path, quick: bool, done: list[dict]) -> list[dict]:
    """Build every sweep point not in ``done``; the results file is rewritten after each build."""
    rows = list(done)
    for entry in SWEEP[:3] + SWEEP[5:7] if quick else SWEEP:
        point = _point(entry)
        if any(_point(r) == point for r in rows):
            continue
        board_name, net_name, lanes, buffers, weights, membranes, multipliers = point
        net, board, config = NETS[net_name](), load_board(board_name), _config(point)
        named = list(point)
        while len(named) > 4 and named[-1] == DEFAULTS[len(named) - 4]:
            named.pop()
        report = build(net, board, config, out / "-".join(map(str, named)))
        plan = build_plan(net, config)
        rows.append({"board": board_name, "family": board.family.value, "net": net_name, "lanes": lanes,
                     "buffers": buffers, "weights": weights, "membranes": membranes,
                     "multipliers": multipliers, "fits": report.fits, "seconds": report.seconds,
                     "lut": report.resources.get("lut", {}).get("used"),
                     "ff": report.resources.get("ff", {}).get("used"),
                     "bram": report.resources.get("bram", {}).get("used"),
                     "spram": report.resources.get("spram", {}).get("used"),
                     "dsp": report.resources.get("dsp", {}).get("used"), "fmax": report.fmax_mhz,
                     "lutram": report.nextpnr_utilisation.get("TRELLIS_RAMW", {}).get("used", 0),
                     "est_bram": sum(bram_blocks(plan, board.family).values()),
                     "est_lutram": lutram_cells(plan, board.family), "est_dsp": dsp_count(plan, board.family)})
        print(rows[-1], flush=True)
        (RESULTS / "estimator.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return rows


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(x, y, rcond=None)[0]


def fit_family(rows: list[dict], family: Family) -> tuple[dict, dict]:
    """Coefficients fitted on all rows, and each row's in-sample / leave-one-out predictions."""
    features = [logic_features(_plan(r), family) for r in rows]
    targets = {"lut": lambda r: r["lut"], "ff": lambda r: r["ff"], "inv_fmax": lambda r: 1.0 / r["fmax"]}
    coeffs, preds = {}, {k: ([], []) for k in targets}
    for key, target in targets.items():
        x = np.array([f[key] for f in features], dtype=float)
        y = np.array([target(r) for r in rows], dtype=float)
        c = _fit(x, y)
        coeffs[key] = [float(v) for v in c]
        for i in range(len(rows)):
            keep = np.arange(len(rows)) != i
            enough = np.linalg.matrix_rank(x[keep]) == np.linalg.matrix_rank(x)
            preds[key][0].append(float(x[i] @ c))
            preds[key][1].append(float(x[i] @ _fit(x[keep], y[keep])) if enough else float("nan"))
    return coeffs, preds


def report(rows: list[dict], write_model: bool) -> str:
    """The table (leave-one-out LUT/FF/Fmax; BRAM and LUT-RAM from the structural model, as is)."""
    model = json.loads(MODEL.read_text())
    lines = ["| board | net | P | buffers / weights / membranes | LUT built | LUT est (LOO) | FF built | FF est (LOO) | BRAM built / est | "
             "LUT-RAM cells built / est | Fmax built | Fmax est (LOO) |", "|" + "---|" * 12]
    errors = {"lut": [], "ff": [], "fmax": [], "bram": []}
    for family in ("ice40", "ecp5"):
        fam_rows = [r for r in rows if r["family"] == family and r["fits"] and r["fmax"]]
        if len(fam_rows) < 3:
            continue
        coeffs, preds = fit_family(fam_rows, Family(family))
        model[family].update(coeffs)
        for i, r in enumerate(fam_rows):
            plan = _plan(r)
            est_bram = sum(bram_blocks(plan, Family(family)).values())
            est_lutram = lutram_cells(plan, Family(family))
            lut, ff, fmax = preds["lut"][1][i], preds["ff"][1][i], 1.0 / preds["inv_fmax"][1][i]
            for key, est, built in (("lut", lut, r["lut"]), ("ff", ff, r["ff"]), ("fmax", fmax, r["fmax"])):
                if np.isfinite(est):        # NaN: the other rows cannot determine the model (too few points)
                    errors[key].append(est / built - 1)
            errors["bram"].append((est_bram - r["bram"]) / max(r["bram"], 1))
            lines.append(f"| {r['board']} | {r['net']} | {r['lanes']} | {' / '.join(_point(r)[3:])} | {r['lut']} | "
                         f"{lut:.0f} | {r['ff']} | {ff:.0f} | {r['bram']} / {est_bram} | "
                         f"{r.get('lutram', '-')} / {est_lutram} | {r['fmax']:.1f} | {fmax:.1f} |")
    worst = {k: f"{100 * max(abs(e) for e in v):.1f}%" for k, v in errors.items() if v}
    lines += ["", f"Worst leave-one-out error: {worst} (nan: the other points of that family cannot fit "
                  "the model without it)", *_unfit_lines(rows, model)]
    if write_model:
        MODEL.write_text(json.dumps(model, indent=1) + "\n")
    return "\n".join(lines)


def _unfit_lines(rows: list[dict], model: dict) -> list[str]:
    """Points nextpnr could not place, with the fitted model's LUT and FF beside the part's."""
    lines = []
    for r in (r for r in rows if not r["fits"]):
        family, board = Family(r["family"]), load_board(r["board"])
        lut, ff, _ = predict_logic(_plan(r), family, model[r["family"]])
        lines.append(f"- {r['board']} {r['net']} P={r['lanes']} ({' / '.join(_point(r)[3:])}): did not fit "
                     f"(FF {r['ff']} built); estimate LUT {lut:.0f} / {board.capacity.lut}, "
                     f"FF {ff:.0f} / {board.capacity.ff}")
    return ["", "Points that did not fit:", ""] + lines if lines else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/estimator"))
    ap.add_argument("--quick", action="store_true", help="5 builds instead of 11")
    ap.add_argument("--reuse", action="store_true", help="refit from benchmarks/results/estimator.json")
    ap.add_argument("--resume", action="store_true", help="build only the points estimator.json lacks")
    ap.add_argument("--write-model", action="store_true", help="update hwgen/estimate_model.json")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.reuse:
        rows = json.loads((RESULTS / "estimator.json").read_text())["rows"]
    else:
        done = json.loads((RESULTS / "estimator.json").read_text())["rows"] if args.resume else []
        rows = measure(args.out, args.quick, done)
    table = report(rows, args.write_model)
    text = "# Estimator vs build\n\n`.venv/bin/python benchmarks/estimator.py`\n\n" + table + "\n"
    (RESULTS / "estimator.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
