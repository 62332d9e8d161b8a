"""``hwgen report``: sections, both renderings, and (when Chromium is there) a headless screenshot."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from hwgen.boards import load_board
from hwgen.hwconfig import AccelConfig
from hwgen.report import Section, collect, write_report
from hwgen.sim.bench.nets import demo_like, images

BUILD = {"resources": {"lut": {"used": 3000, "available": 24288}}, "fmax_mhz": 50.0, "cycles": 100}
VERIFY = {"images": 3, "mismatches": 0, "cycle_mismatches": 0, "cycles": [120, 130, 125], "simulator": "icarus"}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    net = demo_like(0, size=8, channels=(2, 4), hidden=8)
    x = images(0, 6, 8)
    labels = np.array([0, 1, 2, 3, 4, 5])
    sections = collect(net, tmp_path_factory.mktemp("net") / "network", x, labels, load_board("ulx3s-25f"),
                       AccelConfig(2), BUILD, VERIFY)
    out = tmp_path_factory.mktemp("report")
    write_report(sections, "test <report>", out)
    return out, sections


def test_every_section_names_its_command(report_dir):
    _, sections = report_dir
    titles = [s.title for s in sections]
    assert titles[0] == "Network" and "Accuracy vs timesteps" in titles and "Spike density per layer" in titles
    assert any(t.startswith("Resources on") for t in titles) and "Energy per inference" in titles
    assert titles[-1].startswith("Verification")
    assert all(s.command.startswith("hwgen ") for s in sections)
    assert sum(s.figure is not None for s in sections) == 4


def test_html_is_escaped_and_self_contained(report_dir):
    out, sections = report_dir
    html = (out / "report.html").read_text()
    assert "<title>test &lt;report&gt;</title>" in html
    assert html.count("data:image/png;base64,") == 4
    md = (out / "report.md").read_text()
    assert md.count("![") == 4 and all((out / "report_files" / f"fig{i}.png").is_file()
                                       for i, s in enumerate(sections) if s.figure)
    assert "| 3 | 0 | 0 | 120..130 |" in md


def test_accuracy_uses_the_demo_table_when_present(tmp_path):
    from hwgen.report import accuracy_section

    net_dir = tmp_path / "network"
    rows = [{"stage": "float ANN", "accuracy": 0.9, "timesteps": None, "burst": None},
            {"stage": "integer SNN", "accuracy": 0.8, "timesteps": 4, "burst": 1}]
    (tmp_path / "accuracy.json").write_text(json.dumps({"images": 7, "rows": rows}))
    section = accuracy_section(demo_like(0, size=8, channels=(2, 4), hidden=8), net_dir, None, None)
    assert section.command == "hwgen demo" and section.table[2] == ["integer SNN", "4", "1", "80.00"]


def test_markdown_of_a_plain_section(tmp_path):
    write_report([Section("T", "hwgen x", "p", [["a", "b"], ["1", "2"]])], "t", tmp_path)
    assert (tmp_path / "report.md").read_text() == "# t\n\n## T\n\np\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\ncommand: `hwgen x`\n"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_report_renders_in_headless_chromium(report_dir):
    out, _ = report_dir
    shot = out / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,3000", (out / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] == 3000 and pixels.shape[1] == 1200
    assert pixels[..., :3].std() > 0.05          # not a blank page: text, tables and plots drawn


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
def test_demo_hardware_verifies_the_board_design_too(tmp_path, monkeypatch):
    """When the board needs another design than the verified one (here P=16 event does not fit
    the iCEBreaker), the demo verifies that design as well: two verification sections."""
    from rich.console import Console

    from hwgen.demo_hw import HardwareDemo, run_hardware
    from hwgen.netfile import save

    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "cache"))    # no stored verification reused
    net = demo_like(1, size=8, channels=(3, 4), hidden=5, classes=3, timesteps=2)
    save(net, tmp_path / "network")
    np.save(tmp_path / "test_images.npy", images(1, 2, 8))
    np.save(tmp_path / "test_labels.npy", np.array([0, 1]))
    options = HardwareDemo(lanes=16, verify_images=2, build=False, board_verify_images=1)
    summary = run_hardware(tmp_path, options, Console(quiet=True))
    board = json.loads((tmp_path / "verify_board.json").read_text())
    assert summary["verify"]["mismatches"] == 0 and summary["verify_board"]["mismatches"] == 0
    assert board["images"] == 1 and board["lanes"] < 16 and board["ok"]
    md = (tmp_path / "report.md").read_text()
    assert md.count("## Verification") == 2 and f"P={board['lanes']} {board['mode']}" in md
