"""``torch.export`` programs convert to the same networks as the live modules,
and ``hwgen convert MODEL.pt2 --calib X.npy -o NET`` does it from the command line."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

import convnets
from convnets import Residual, images, same_network
from hwgen import ConversionError, load
from hwgen.convert import convert_detailed
from hwgen.nn import QCFS, Normalize
from hwgen.sim import golden


def exported(model: nn.Module, shape, batch: int = 2, dynamic: bool = False):
    example = torch.rand(batch, *shape)
    dims = ({0: torch.export.Dim("batch")},) if dynamic else None
    return torch.export.export(model.eval(), (example,), dynamic_shapes=dims)


def qcfs_rnl_net(seed: int = 40) -> nn.Sequential:
    """Normalize, conv/BN/QCFS, avgpool, dropout, linear/RNL, linear/ReLU6, output."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        Normalize([0.5], [0.25]), nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), QCFS(4, 2.0), nn.AvgPool2d(2),
        nn.Dropout(0.3), nn.Flatten(), nn.Linear(4 * 3 * 3, 10), convnets.rnl(3.0, 0.3), nn.Linear(10, 8),
        nn.ReLU6(), nn.Linear(8, 3))
    return convnets.eval_model(model, seed)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static-batch", "dynamic-batch"])
def test_exported_qcfs_rnl_normalize_equal_live_module(dynamic):
    """hwgen.nn modules survive export: collapsed back to QCFS λ/L, RNL θ, Normalize."""
    model = qcfs_rnl_net()
    x = images((1, 8, 8), 32)
    live = convert_detailed(model, x, timesteps=4, burst=[4, 1, 2])
    program = convert_detailed(exported(model, (1, 8, 8), dynamic=dynamic), x, timesteps=4, burst=[4, 1, 2])
    same_network(live.network, program.network, names=True)
    assert program.lambdas == live.lambdas
    assert [layer.act.kind.value for layer in program.plan if layer.act] == ["qcfs", "rnl", "clip"]


def test_exported_functional_forward_equals_sequential():
    sequential = convnets.relu_cnn(seed=41)
    functional = convnets.FunctionalCNN(sequential, "mean").eval()
    x = images((2, 8, 8))
    a = convert_detailed(sequential, x, timesteps=4)
    b = convert_detailed(exported(functional, (2, 8, 8)), x, timesteps=4)
    same_network(a.network, b.network)
    assert [layer.name for layer in b.network.layers][::2] == ["conv1", "conv2", "fc"]


@pytest.mark.parametrize("how", ["F.relu6", "F.hardtanh", "torch.clamp", "x.clamp", "clamp-min"])
def test_exported_clips_equal_live_module(how):
    from test_convert_folds import FunctionalClip

    model = FunctionalClip(how).eval()
    x = images((6,), 32)
    live = convert_detailed(model, x, timesteps=4)
    program = convert_detailed(exported(model, (6,)), x, timesteps=4)
    same_network(live.network, program.network, names=True)
    a, b = live.plan[0].act, program.plan[0].act
    assert (a.kind, a.lam) == (b.kind, b.lam)


VARIANTS = {
    "inplace-dropout2d-identity-padded-pool": lambda: nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=True), nn.Dropout2d(0.2),
        nn.AvgPool2d(2, stride=2, padding=1), nn.Identity(), nn.Flatten(), nn.Linear(3 * 5 * 5, 2)),
    "dropout1d-hardtanh": lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(128, 5), nn.Hardtanh(0, 2), nn.Dropout1d(0.1), nn.Linear(5, 2)),
    "bn-no-affine-relu6-adaptive": lambda: convnets.eval_model(nn.Sequential(
        nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3, affine=False), nn.ReLU6(inplace=True),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(3, 2))),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_exported_module_variants_equal_live_module(variant):
    """Module variants whose aten form differs (Dropout1d is unsqueeze/feature_dropout/squeeze)."""
    torch.manual_seed(46)
    model = VARIANTS[variant]().eval()
    x = images((2, 8, 8), 16)
    live = convert_detailed(model, x, timesteps=2)
    same_network(live.network, convert_detailed(exported(model, (2, 8, 8)), x, timesteps=2).network, names=True)


@pytest.mark.parametrize("model, shape, pattern", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 2)), (1, 8, 8),
     r"module '2' \(MaxPool2d\).*AvgPool2d"),
    (nn.Sequential(nn.Linear(6, 4), nn.Sigmoid(), nn.Linear(4, 2)), (6,), r"module '1' \(Sigmoid\).*sigmoid"),
    (Residual(), (6,), r"'add' \(aten.add\).*no branches or residual"),
    (nn.Sequential(nn.ReLU(), nn.Linear(6, 2)), (6,), r"activation '0' \(ReLU\)"),
    (nn.Sequential(nn.Linear(6, 4), QCFS(4, phi=0.25), nn.Linear(4, 2)), (6,), r"module '1' \(QCFS\).*φ = 1/2"),
], ids=["maxpool", "sigmoid", "residual", "act-first", "qcfs-phi"])
def test_exported_rejections_name_module_and_type(model, shape, pattern):
    with pytest.raises(ConversionError, match=pattern):
        convert_detailed(exported(model, shape), images(shape, 4), timesteps=2)


def test_exported_in_training_mode_is_rejected():
    model = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).train()
    program = torch.export.export(model, (torch.rand(3, 6),))
    with pytest.raises(ConversionError, match=r"module '1' \(BatchNorm1d\): exported in training mode"):
        convert_detailed(program, images((6,), 4), timesteps=2)


def test_exported_calibration_shape_must_match():
    program = exported(convnets.relu_mlp(seed=42), (12,))
    with pytest.raises(ConversionError, match=r"calibration images have shape \[10\] but the model takes \[12\]"):
        convert_detailed(program, images((10,), 4), timesteps=2)


# --- the CLI ------------------------------------------------------------------------

def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Call ``hwgen.cli.main`` with ``args``; return (exit code, stdout, stderr)."""
    from hwgen import cli

    monkeypatch.setattr(sys, "argv", ["hwgen", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A QCFS/RNL model exported to model.pt2 and float calibration images calib.npy."""
    folder = tmp_path_factory.mktemp("model")
    model = qcfs_rnl_net(seed=43)
    torch.export.save(exported(model, (1, 8, 8)), folder / "model.pt2")
    calib = np.random.default_rng(43).random((48, 1, 8, 8))
    np.save(folder / "calib.npy", calib)
    return model, folder, calib


def test_cli_round_trip(saved, tmp_path, monkeypatch, capsys):
    """export -> hwgen convert -> hwgen run == hwgen.convert in Python + golden."""
    import hwgen

    model, folder, calib = saved
    net = tmp_path / "net"
    code, out, err = run_cli(monkeypatch, capsys, "convert", folder / "model.pt2", "--calib", folder / "calib.npy",
                             "-o", net, "-T", 3, "--burst", "4,1,2")
    assert (code, err) == (0, "")
    for word in ("conv2d", "qcfs L=4", "rnl", "clip", "acc", "T=3"):
        assert word in out
    python = hwgen.convert(model, calib, timesteps=3, burst=[4, 1, 2])
    same_network(load(net), python, names=True)

    x = images((1, 8, 8), 40, seed=44)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(monkeypatch, capsys, "run", net, "-i", tmp_path / "x.npy", "-o", tmp_path / "r.npz")
    assert (code, err) == (0, "") and json.loads(out)["images"] == 40
    expected = golden.run(python, x)
    with np.load(tmp_path / "r.npz") as results:
        np.testing.assert_array_equal(results["prediction"], expected.prediction)
        np.testing.assert_array_equal(results["logits"], expected.logits)
    assert len(np.unique(expected.prediction)) > 1 or expected.logits.std() > 0


def test_cli_options_reach_the_network(saved, tmp_path, monkeypatch, capsys):
    """uint8 calibration (/255), --v-init zero, --weight-bits, --norm/--percentile."""
    model, folder, calib = saved
    pixels = np.rint(calib * 255).astype(np.uint8)
    np.save(tmp_path / "calib8.npy", pixels)
    net = tmp_path / "net"
    code, _, err = run_cli(monkeypatch, capsys, "convert", folder / "model.pt2", "--calib", tmp_path / "calib8.npy",
                           "-o", net, "--v-init", "zero", "--weight-bits", 6, "--norm", "max",
                           "--percentile", 50, "-T", 2)
    assert (code, err) == (0, "")
    want = convert_detailed(model, pixels, timesteps=2, v_init="zero", weight_bits=6, norm="max",
                            percentile=50).network
    same_network(load(net), want, names=True)
    assert {layer.neuron.v_init for layer in want.layers if layer.neuron} == {0}
    assert max(int(np.abs(layer.weight).max()) for layer in want.layers if layer.has_weights) <= 31


def test_cli_input_normalisation(tmp_path, monkeypatch, capsys):
    """--input-mean / --input-std (per channel) and --norm percentile on a ReLU CNN."""
    model = convnets.relu_cnn(seed=45)
    torch.export.save(exported(model, (2, 8, 8)), tmp_path / "m.pt2")
    calib = images((2, 8, 8), 24, seed=45)
    np.save(tmp_path / "c.npy", calib)
    code, _, err = run_cli(monkeypatch, capsys, "convert", tmp_path / "m.pt2", "--calib", tmp_path / "c.npy",
                           "-o", tmp_path / "net", "--input-mean", "0.4,0.6", "--input-std", "0.2,0.3",
                           "--percentile", "99", "--input-bits", 6)
    assert code == 0
    assert err.startswith("hwgen: warning: '0': folding a non-zero input mean into a padded convolution")
    assert err.count("\n") == 1
    with pytest.warns(UserWarning, match="padded convolution"):
        want = convert_detailed(model, calib.astype(np.float64) / 255, timesteps=8, input_mean=[0.4, 0.6],
                                input_std=[0.2, 0.3], percentile=99.0, input_bits=6).network
    same_network(load(tmp_path / "net"), want, names=True)
    assert want.input.bits == 6


@pytest.mark.parametrize("case", ["missing-model", "junk-model", "state-dict", "zip-model", "missing-calib",
                                  "calib-shape", "calib-range", "calib-int32", "calib-pickle", "burst-text",
                                  "burst-length", "percentile", "v-init", "timesteps", "unsupported", "output-file"])
def test_cli_errors(case, saved, tmp_path, monkeypatch, capsys):
    """Bad input: exit 2, one line 'hwgen: error: ...' on stderr, no output folder."""
    import zipfile

    _, folder, calib = saved
    model, calib_path, out = folder / "model.pt2", folder / "calib.npy", tmp_path / "out" / "net"
    extra = []
    if case == "missing-model":
        model = tmp_path / "nope.pt2"
    elif case == "junk-model":
        model = tmp_path / "junk.pt2"
        model.write_bytes(b"not a model")
    elif case == "state-dict":
        model = tmp_path / "sd.pt2"
        torch.save(nn.Linear(3, 2).state_dict(), model)
    elif case == "zip-model":
        model = tmp_path / "z.pt2"
        with zipfile.ZipFile(model, "w") as archive:
            archive.writestr("a.txt", "x")
    elif case == "missing-calib":
        calib_path = tmp_path / "nope.npy"
    elif case.startswith("calib-"):
        calib_path = tmp_path / "c.npy"
        data = {"calib-shape": calib[:, :, :4], "calib-range": calib * 2, "calib-int32": (calib * 9).astype(np.int32),
                "calib-pickle": np.array([{"a": 1}], dtype=object)}[case]
        np.save(calib_path, data, allow_pickle=True)
    elif case == "unsupported":
        model = tmp_path / "maxpool.pt2"
        torch.export.save(exported(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Flatten(),
                                                 nn.Linear(18, 2)), (1, 8, 8)), model)
    elif case == "output-file":
        out = tmp_path / "file"
        out.write_text("x")
    else:
        extra = {"burst-text": ["--burst", "two"], "burst-length": ["--burst", "1,2"],
                 "percentile": ["--percentile", "0"], "v-init": ["--v-init", "third"],
                 "timesteps": ["-T", "0"]}[case]
    code, out_text, err = run_cli(monkeypatch, capsys, "convert", model, "--calib", calib_path, "-o", out, *extra)
    assert code == 2, err
    assert err.startswith("hwgen: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    expected = {"missing-model": "nope.pt2", "junk-model": "not a torch.export program",
                "state-dict": "not a torch.export program", "zip-model": "not a torch.export program",
                "missing-calib": "nope.npy", "calib-shape": "calibration images have shape [1, 4, 8]",
                "calib-range": "[0, 1]", "calib-int32": "floats in [0, 1] or uint8", "calib-pickle": "c.npy",
                "burst-text": "option --burst", "burst-length": "option burst", "percentile": "option percentile",
                "v-init": "option v_init", "timesteps": "option timesteps",
                "unsupported": "module '1' (MaxPool2d)", "output-file": "is not a folder"}[case]
    assert expected in err
    assert not (tmp_path / "out").exists()
