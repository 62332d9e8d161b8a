"""Accelerator benchmark: cycles vs the lower bound, event vs dense, simulator speed.

Usage::

    .venv/bin/python benchmarks/rtl_cycles.py [--images 100] [--verify-images 3] [--full 0] [--icarus-full 0 --jobs 1]

On the demo network ``out/demo/network`` with its Fashion-MNIST test images
(written by ``hwgen demo``) when it exists, else on the same-shaped random
network (:func:`hwgen.sim.bench.nets.demo_like`: conv 1->8 3x3 pad 1,
avgpool 2, conv 8->16, avgpool 2, linear 784->64, linear 64->10, T = 4,
random int8 weights with calibrated thresholds) and blob images:

* cycles from the cycle model at P in {1, 4, 16}, dense and event, against
  the lower bound ``synaptic_ops / P`` (every MAC of every step) and the
  tighter ``ops' / P`` that counts the time-invariant first layer once;
* event mode: the measured input density of each weighted layer and the
  speed-up it predicts, against the cycle model's;
* the same cocotb bench on Icarus and Verilator (``--verify-images``
  images, P = 16 dense): 0 mismatches and the run-time ratio;
* ``--full N``: N images on Verilator in both modes (0 mismatches);
* ``--icarus-full N``: N images on Icarus, event mode (``--jobs J``
  simulator processes), with its CPU seconds per image.

The JSON and Markdown are rewritten after each stage, so a long run that is
stopped keeps what it finished.

Writes ``benchmarks/results/rtl_cycles.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from hwgen import load
from hwgen.hwconfig import AccelConfig
from hwgen.hwplan import Kind, build_plan
from hwgen.hwverify import verify
from hwgen.sim import golden
from hwgen.sim.bench.nets import demo_like, images
from hwgen.sim.cycles import _Recorder, inference_cycles, pass_tokens, synaptic_ops

RESULTS = Path(__file__).parent / "results"


def densities(network, x) -> dict[int, float]:
    """Non-zero fraction of each weighted layer's input, averaged over steps and images."""
    record = _Recorder(network)
    golden.run(network, x, trace=record)
    shapes = network.shapes
    out = {}
    for index, layer in enumerate(network.layers):
        if not layer.has_weights:
            continue
        size = int(np.prod(shapes[index]))
        if index == 0:
            out[index] = float(np.count_nonzero(x) / x.size)
        else:
            maps = [record.get(t, index).sum() for t in range(network.timesteps)]
            out[index] = float(sum(maps) / (size * len(x) * network.timesteps))
    return out


def cycle_table(network, x) -> dict:
    ops = synaptic_ops(network)
    first = network.layers[0]
    first_ops = ops // network.timesteps
    plan1 = build_plan(network, AccelConfig(1))
    layer0 = next(q for q in plan1.first if q.kind is Kind.CONV and q.layer == 0)
    first_ops = first.weight.shape[0] * int((layer0.channels * layer0.walk.valid_taps()).sum())
    tight = ops - (network.timesteps - 1) * first_ops
    rows, rho = [], densities(network, x)
    for lanes in (1, 4, 16):
        dense = int(inference_cycles(network, AccelConfig(lanes), x[:1])[0])
        event = inference_cycles(network, AccelConfig(lanes, "event"), x)
        plan = build_plan(network, AccelConfig(lanes))
        dense_tokens, predicted = 0.0, 0.0
        for t in range(network.timesteps):
            for q in plan.first if t == 0 else plan.rest:
                tokens = float(pass_tokens(q, None, 1)[0])
                dense_tokens += tokens
                predicted += tokens * (rho[q.layer] if q.kind is Kind.CONV else 1.0)
        rows.append({"lanes": lanes, "dense_cycles": dense, "bound": ops / lanes, "ratio": dense / (ops / lanes),
                     "tight_bound": tight / lanes, "tight_ratio": dense / (tight / lanes),
                     "event_cycles_mean": float(event.mean()), "event_cycles_min": int(event.min()),
                     "event_cycles_max": int(event.max()), "event_speedup": dense / float(event.mean()),
                     "density_predicted_speedup": dense_tokens / predicted})
    return {"synaptic_ops": ops, "synaptic_ops_first_layer_once": tight, "input_density": rho, "rows": rows}


def event_breakdown(network, x, lanes: int) -> dict:
    """Mean event-mode cycles of one inference by what spends them, at ``lanes``.

    ``conv``: synapse tokens of conv/linear passes (one per non-zero input
    channel of a tap, or one null token for a tap with none); ``scan``:
    building the event lists; ``cached``/``pool``: first-layer cache reads and
    stand-alone pools; ``overhead``: each pass's start and pipeline drain.
    """
    from hwgen.sim.cycles import pass_costs

    out = {"conv": 0.0, "scan": 0.0, "cached": 0.0, "pool": 0.0, "overhead": 0.0}
    for q, tokens, cycles in pass_costs(network, AccelConfig(lanes, "event"), x):
        out[q.kind.name.lower()] += float(tokens.mean())
        out["overhead"] += float((cycles - tokens).mean())
    return out


def simulator_speed(network, x, count: int) -> dict:
    out = {}
    for sim in ("icarus", "verilator"):
        result = verify(network, x[:count], AccelConfig(16), sim)
        out[sim] = {"ok": result.ok, "images": result.images, "mismatches": len(result.mismatches),
                    "cycle_mismatches": len(result.cycle_mismatches), "build_seconds": result.build_seconds,
                    "run_seconds": result.run_seconds, "run_cpu_seconds": result.run_cpu_seconds,
                    "cycles": result.cycles[:1]}
    out["icarus_over_verilator_run_time"] = out["icarus"]["run_seconds"] / out["verilator"]["run_seconds"]
    return out


def full_runs(network, x, count: int) -> dict:
    out = {}
    for mode in ("dense", "event"):
        start = time.perf_counter()
        result = verify(network, x[:count], AccelConfig(16, mode), "verilator")
        out[mode] = {"ok": result.ok, "images": result.images, "mismatches": len(result.mismatches),
                     "cycle_mismatches": len(result.cycle_mismatches), "seconds": time.perf_counter() - start,
                     "build_seconds": result.build_seconds, "run_seconds": result.run_seconds}
    return out


def icarus_run(network, x, count: int, jobs: int) -> dict:
    result = verify(network, x[:count], AccelConfig(16, "event"), "icarus", jobs=jobs)
    return {"ok": result.ok, "images": result.images, "mismatches": len(result.mismatches),
            "cycle_mismatches": len(result.cycle_mismatches), "jobs": jobs, "run_seconds": result.run_seconds,
            "cpu_seconds_per_image": result.run_cpu_seconds / result.images, "error": result.error}


def markdown(doc: dict) -> str:
    lines = [f"# RTL cycles: {doc['network']}", "",
             f"synaptic ops / inference: {doc['cycles']['synaptic_ops']} "
             f"(first layer once: {doc['cycles']['synaptic_ops_first_layer_once']})", "",
             "| P | dense cycles | ops/P | ratio | ratio (first layer once) | event mean | event speed-up "
             "| density-predicted |", "|---|---|---|---|---|---|---|---|"]
    for r in doc["cycles"]["rows"]:
        lines.append(f"| {r['lanes']} | {r['dense_cycles']} | {r['bound']:.0f} | {r['ratio']:.3f} | "
                     f"{r['tight_ratio']:.3f} | {r['event_cycles_mean']:.0f} | {r['event_speedup']:.2f}x | "
                     f"{r['density_predicted_speedup']:.2f}x |")
    lines += ["", f"input density per weighted layer: {doc['cycles']['input_density']}"]
    if "event_breakdown" in doc:
        b = doc["event_breakdown"]
        lines += ["", f"event mode, P = {b['lanes']}, mean cycles by use: "
                      + ", ".join(f"{k} {v:.0f}" for k, v in b["cycles"].items() if k != "lanes")]
    if "simulators" in doc:
        s = doc["simulators"]
        lines += ["", f"Icarus vs Verilator, same bench, {s['icarus']['images']} images at P = 16 dense: "
                      f"run {s['icarus']['run_seconds']:.1f} s vs {s['verilator']['run_seconds']:.1f} s "
                      f"= **{s['icarus_over_verilator_run_time']:.1f}x**; mismatches "
                      f"{s['icarus']['mismatches']}/{s['verilator']['mismatches']}, cycle mismatches "
                      f"{s['icarus']['cycle_mismatches']}/{s['verilator']['cycle_mismatches']}"]
    if "per_image" in doc:
        p = doc["per_image"]
        lines.append(f"Per image (start-up excluded: Verilator's from the {p['verilator_images']}-image run "
                     f"minus the short one): Icarus {p['icarus_s']:.1f} s, Verilator {p['verilator_s']:.2f} s "
                     f"= **{p['ratio']:.0f}x**")
    if "full" in doc:
        for mode, r in doc["full"].items():
            lines.append(f"Verilator {mode} P=16: {r['images']} images, {r['mismatches']} mismatches, "
                         f"{r['cycle_mismatches']} cycle mismatches ({r['seconds']:.0f} s)")
    if "icarus_full" in doc:
        r = doc["icarus_full"]
        lines.append(f"Icarus event P=16: {r['images']} images, {r['mismatches']} mismatches, "
                     f"{r['cycle_mismatches']} cycle mismatches ({r['cpu_seconds_per_image']:.1f} CPU s an image, "
                     f"{r['jobs']} processes, {r['run_seconds']:.0f} s)")
    lines += ["", "Icarus speed (optimised netlist vs the emitted Verilog): `icarus_speed.md`"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--verify-images", type=int, default=3)
    parser.add_argument("--full", type=int, default=0)
    parser.add_argument("--icarus-full", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="Icarus processes for --icarus-full")
    parser.add_argument("--demo", default="out/demo", help="hwgen demo output folder")
    parser.add_argument("--cycles-only", action="store_true",
                        help="recompute the cycle tables only, keeping the simulator runs of the saved JSON")
    args = parser.parse_args()
    count = max(args.images, args.verify_images, args.full, args.icarus_full)
    demo = Path(args.demo)
    if (demo / "network" / "network.json").is_file() and (demo / "test_images.npy").is_file():
        network, name = load(demo / "network"), f"{demo}/network (hwgen demo, Fashion-MNIST test images)"
        x = np.load(demo / "test_images.npy")[:count]
    else:
        network, name = demo_like(0), "demo_like(0): conv8-pool-conv16-pool-fc64-fc10, T=4, blob images"
        x = images(0, count)
    doc = json.loads((RESULTS / "rtl_cycles.json").read_text()) if args.cycles_only else {}
    doc.update({"network": name, "host": platform.node(), "cycles": cycle_table(network, x[:args.images]),
                "event_breakdown": {"lanes": 16, "cycles": event_breakdown(network, x[:args.images], 16)}})
    save(doc)
    if args.cycles_only:
        print(markdown(doc))
        return
    if args.verify_images:
        doc["simulators"] = simulator_speed(network, x, args.verify_images)
        save(doc)
    if args.full:
        doc["full"] = full_runs(network, x, args.full)
    if args.full > args.verify_images and args.verify_images:
        sims, dense = doc["simulators"], doc["full"]["dense"]
        icarus = sims["icarus"]["run_seconds"] / args.verify_images
        verilator = (dense["run_seconds"] - sims["verilator"]["run_seconds"]) / (args.full - args.verify_images)
        doc["per_image"] = {"icarus_s": icarus, "verilator_s": verilator, "ratio": icarus / verilator,
                            "verilator_images": args.full}
    save(doc)
    if args.icarus_full:
        doc["icarus_full"] = icarus_run(network, x, args.icarus_full, args.jobs)
        save(doc)
    print(markdown(doc))


def save(doc: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rtl_cycles.json").write_text(json.dumps(doc, indent=1) + "\n")
    (RESULTS / "rtl_cycles.md").write_text(markdown(doc))

if __name__ == "__main__":
    main()
