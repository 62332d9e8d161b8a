"""``hwgen report``: one page on a network — accuracy, activity, hardware, energy, verification.

:func:`collect` gathers the figures (running the golden model and the
estimator; reading the demo's ``accuracy.json`` and any ``hwgen build`` /
``hwgen verify`` JSON reports), :func:`write_report` renders
``report.html`` (figures embedded) and ``report.md`` (figures beside it in
``report_files/``). Every figure and table names the command that produced it.
"""
from __future__ import annotations

import base64
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .boards import Board
from .estimate import estimate
from .hwconfig import AccelConfig
from .network import Network


@dataclass
class Section:
    """A titled part of the report: a paragraph, an optional table, an optional figure."""

    title: str
    command: str
    text: str = ""
    table: list[list[str]] = field(default_factory=list)     # first row = header
    figure: bytes | None = None                               # PNG


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _figure(width=6.0, height=3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def accuracy_section(network: Network, net_dir: Path, result, labels) -> Section | None:
    """Accuracy vs T: the demo's full table if there is one, else the golden model's per-step logits."""
    doc_path = net_dir.parent / "accuracy.json"
    fig, ax = _figure()
    if doc_path.is_file():
        rows = json.loads(doc_path.read_text())["rows"]
        for stage, style in (("integer SNN", "o-"), ("float SNN", "s--")):
            pts = sorted((r["timesteps"], 100 * r["accuracy"]) for r in rows
                         if r["stage"] == stage and r["burst"] == min(x["burst"] or 99 for x in rows
                                                                           if x["stage"] == stage))
            if pts:
                ax.plot(*zip(*pts), style, label=f"{stage} (Γ={min(r['burst'] for r in rows if r['stage'] == stage)})")
        for r in rows:
            if r["timesteps"] is None:
                ax.axhline(100 * r["accuracy"], ls=":", color="grey" if "quant" in r["stage"] else "black",
                           label=r["stage"])
        table = [["stage", "T", "Γ", "accuracy %"]] + [
            [r["stage"], str(r["timesteps"] or "-"), str(r["burst"] or "-"), f"{100 * r['accuracy']:.2f}"]
            for r in rows]
        command, text = "hwgen demo", f"{json.loads(doc_path.read_text())['images']} test images."
    elif labels is not None:
        acc = (result.step_logits.argmax(axis=2) == labels[:, None]).mean(axis=0) * 100
        ts = np.arange(1, len(acc) + 1)
        ax.plot(ts, acc, "o-", label="integer SNN")
        table = [["T", "accuracy %"]] + [[str(t), f"{a:.2f}"] for t, a in zip(ts, acc)]
        command, text = "hwgen report NET --input X.npy --labels Y.npy", f"{len(labels)} labelled images."
    else:
        return None
    ax.set_xscale("log", base=2)
    ax.set_xlabel("timesteps T")
    ax.set_ylabel("accuracy %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return Section("Accuracy vs timesteps", command, text, table, _png(fig))


def activity_section(network: Network, result, n_images: int) -> Section:
    """Spike density per spiking layer: spikes / (neurons × T), mean over the images."""
    names, density = [], []
    for layer, shape in zip(network.layers, network.shapes[1:]):
        if layer.neuron is not None:
            names.append(layer.name)
            density.append(float(result.spikes[layer.name].sum(axis=1).mean())
                            / (math.prod(shape) * network.timesteps))
    fig, ax = _figure(5, 2.8)
    ax.bar(names, density)
    ax.set_ylabel("spikes / neuron / step")
    ax.set_xlabel("layer")
    table = [["layer", "spikes / neuron / step", "saturations"]] + [
        [n, f"{d:.3f}", str(int(result.saturations.get(n, np.zeros(1)).sum()))] for n, d in zip(names, density)]
    return Section("Spike density per layer", "hwgen run NET --input X.npy --output OUT.npz",
                   f"Golden model, {n_images} images, T={network.timesteps}.", table, _png(fig))


def hardware_sections(network: Network, board: Board, config: AccelConfig, images,
                      build_report: dict | None) -> list[Section]:
    """Resources vs capacity (estimate, and the build when there is one), latency, energy."""
    est = estimate(network, board, config, images)
    cmd = f"hwgen estimate NET --board {board.name} --lanes {config.lanes} --mode {config.mode.value} --input X.npy"
    memories = f"Memories: {config.describe()}. " if config.to_json().keys() - {"lanes", "mode"} else ""
    built = (build_report or {}).get("resources", {})
    built_on = f"built on {build_report.get('board', '?')}" if built else "built"
    res_table = [["resource", "estimate", built_on, "available"]]
    fig, ax = _figure(5, 2.8)
    names = list(est.resources)
    ax.bar(names, [100 * r["used"] / r["available"] if r["available"] else 0 for r in est.resources.values()],
           label="estimate", alpha=0.6)
    if built:
        ax.bar(names, [100 * built[k]["used"] / built[k]["available"] if k in built and built[k]["available"]
                       else 0 for k in names], label=built_on, alpha=0.6)
    ax.axhline(100, color="red", lw=1)
    ax.set_ylabel("% of the device")
    ax.legend(fontsize=8)
    for k, r in est.resources.items():
        res_table.append([k, str(r["used"]), str(built.get(k, {}).get("used", "-")), str(r["available"])])
    timing = [["", "estimate", built_on],
              ["Fmax MHz", f"{est.fmax_mhz:.1f}", str((build_report or {}).get("fmax_mhz", "-"))],
              ["cycles / image", str(est.cycles), str((build_report or {}).get("cycles", "-"))],
              ["latency us", f"{est.latency_us:.1f}", str((build_report or {}).get("latency_us", "-"))],
              ["images / s", f"{est.images_per_s:.0f}", str((build_report or {}).get("images_per_s", "-"))]]
    sections = [Section(f"Resources on {board.title}, P={config.lanes} {config.mode.value}",
                        cmd + (f"; hwgen build NET --board {board.name} --lanes {config.lanes} "
                               f"--mode {config.mode.value}" if built else ""),
                        memories + ("" if est.fits else "The estimate does not fit this device."),
                        res_table, _png(fig)),
                Section("Latency and throughput", cmd, est.cycles_basis, timing)]
    e = est.energy
    fig, ax = _figure(5, 2.8)
    models = ["burst-spike paper", "Horowitz 45 nm"]
    x = np.arange(2)
    ax.bar(x - 0.2, [e["paper_snn_pj"] / 1e6, e["horowitz_snn_pj"] / 1e6], 0.4, label="SNN (hwgen)")
    ax.bar(x + 0.2, [e["paper_ann_pj"] / 1e6, e["horowitz_ann_pj"] / 1e6], 0.4, label="ANN, same network")
    ax.set_xticks(x, models)
    ax.set_ylabel("µJ / inference")
    ax.legend(fontsize=8)
    table = [["model", "SNN µJ", "ANN µJ", "SNN / ANN"],
             ["burst-spike paper", f"{e['paper_snn_pj'] / 1e6:.3f}", f"{e['paper_ann_pj'] / 1e6:.3f}",
              f"{e['paper_ratio']:.2f}"],
             ["Horowitz 45 nm", f"{e['horowitz_snn_pj'] / 1e6:.3f}", f"{e['horowitz_ann_pj'] / 1e6:.3f}",
              f"{e['horowitz_ratio']:.2f}"]]
    text = (f"{e['first_layer_macs']} first-layer MACs, {e['synaptic_ops']:.0f} synaptic ops, "
            f"{e['ann_macs']} ANN MACs; activity from {est.activity_basis}.")
    sections.append(Section("Energy per inference", cmd, text, table, _png(fig)))
    return sections


def count(value) -> int:
    """A mismatch figure of a JSON report: a count, or the list of mismatches."""
    return len(value) if isinstance(value, list) else int(value or 0)


def verification_section(doc: dict) -> Section:
    """A ``hwgen verify`` JSON report as a table."""
    mism, cyc = count(doc.get("mismatches")), count(doc.get("cycle_mismatches"))
    ok = mism == 0 and cyc == 0 and not doc.get("error")
    cycles = doc.get("cycles") or []
    table = [["images", "logit mismatches", "cycle mismatches", "cycles min..max"],
             [str(doc.get("images")), str(mism), str(cyc), f"{min(cycles)}..{max(cycles)}" if cycles else "-"]]
    design_args = "".join(f" --{key} {doc[key]}" for key in ("lanes", "mode", "buffers", "weights", "membranes", "multipliers")
                          if key in doc)
    design_args += " --cache off" if doc.get("cache") is False else ""
    design = f", P={doc['lanes']} {doc['mode']}" if "lanes" in doc and "mode" in doc else ""
    return Section(f"Verification: generated Verilog vs golden model{design}",
                   f"hwgen verify NET --input X.npy --sim {doc.get('simulator', 'icarus')}{design_args} --report R.json",
                   "Every logit and every start-to-done cycle count compared exactly: "
                   + ("all equal." if ok else "MISMATCHES (see the report file).")
                   + (f" Reused result of identical network, Verilog, images and bench (sha256 "
                      f"{doc['reused'][:12]}; hwgen demo --reverify reruns it)." if doc.get("reused") else ""),
                   table)


def write_report(sections: list[Section], title: str, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``report.html`` (figures embedded) and ``report.md`` (+ ``report_files/``)."""
    from .report_html import render_html, render_markdown

    out_dir = Path(out_dir)
    files = out_dir / "report_files"
    files.mkdir(parents=True, exist_ok=True)
    images = {}
    for i, s in enumerate(sections):
        if s.figure:
            name = f"fig{i}.png"
            (files / name).write_bytes(s.figure)
            images[i] = (f"report_files/{name}", base64.b64encode(s.figure).decode())
    html, md = out_dir / "report.html", out_dir / "report.md"
    for path, text in ((html, render_html(sections, title, images)), (md, render_markdown(sections, title, images))):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return {"html": html, "markdown": md}


def collect(network: Network, net_dir: Path, images: np.ndarray, labels: np.ndarray | None, board: Board,
            config: AccelConfig, build_report: dict | None = None, verify_report: dict | list | None = None
            ) -> list[Section]:
    """Every section the report has for this network and these inputs (``verify_report``: one
    ``hwgen verify`` JSON or a list of them, a section each)."""
    from .sim import golden

    result = golden.run(network, images)
    layers = [["layer", "op", "output", "θ", "Γ", "width"]] + [
        [layer.name, layer.op.value, "x".join(map(str, shape)),
         str(layer.neuron.threshold) if layer.neuron else "-", str(layer.neuron.burst) if layer.neuron else "-",
         (f"v{layer.neuron.v_bits}" if layer.neuron else f"acc{layer.acc_bits}") if layer.has_weights else "-"]
        for layer, shape in zip(network.layers, network.shapes[1:])]
    sections = [Section("Network", f"hwgen validate {net_dir}",
                        f"hwgen-snn/1, T={network.timesteps}, input {list(network.input.shape)} "
                        f"({network.input.bits}-bit), {network.classes} classes.", layers)]
    acc = accuracy_section(network, net_dir, result, labels)
    if acc:
        sections.append(acc)
    sections.append(activity_section(network, result, len(images)))
    sections += hardware_sections(network, board, config, images, build_report)
    reports = verify_report if isinstance(verify_report, list) else [verify_report] if verify_report else []
    sections += [verification_section(doc) for doc in reports]
    return sections
