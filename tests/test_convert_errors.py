"""Every rejection is a ConversionError (a HwgenError) naming the module and its type,
or, for options, the field."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convnets
from convnets import Residual, images
from hwgen import ConversionError, HwgenError
from hwgen.convert import convert_detailed
from hwgen.nn import QCFS, Normalize


def rejects(model, shape=(1, 8, 8), pattern=None, **options):
    """Assert conversion raises a ConversionError matching ``pattern``; return its message."""
    options.setdefault("timesteps", 2)
    with pytest.raises(ConversionError, match=pattern) as info:
        convert_detailed(model, images(shape, 4), **options)
    assert isinstance(info.value, HwgenError) and "\n" not in str(info.value)
    return str(info.value)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 2), nn.Linear(6, 2)

    def forward(self, x):
        y = F.relu(self.fc1(x))
        return self.a(y) - self.b(y)


class FunctionalMaxPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3, padding=1), nn.Linear(32, 2)

    def forward(self, x):
        return self.fc(torch.flatten(F.max_pool2d(F.relu(self.conv(x)), 2), 1))


def conv(*middle, tail=None):
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), *middle, nn.Flatten(), tail or nn.Linear(2 * 4 * 4, 2))


@pytest.mark.parametrize("model, shape, pattern", [
    (conv(nn.ReLU(), nn.MaxPool2d(2)), (1, 8, 8), r"module '2' \(MaxPool2d\).*AvgPool2d"),
    (FunctionalMaxPool(), (1, 8, 8), r"'max_pool2d' \(max_pool2d\).*avg_pool2d"),
    (nn.Sequential(nn.Linear(6, 4), nn.Sigmoid(), nn.Linear(4, 2)), (6,), r"module '1' \(Sigmoid\): unsupported"),
    (nn.Sequential(nn.LSTM(6, 4), nn.Linear(4, 2)), (3, 6), r"module '0' \(LSTM\): unsupported"),
    (nn.Sequential(nn.Linear(6, 4), nn.GELU(), nn.Linear(4, 2)), (6,), r"module '1' \(GELU\)"),
    (Residual(), (6,), r"'add' \(add\).*no branches or residual"),
    (TwoHeads(), (6,), r"'b' \(Linear\).*no branches or residual"),
    (nn.Sequential(nn.ReLU(), nn.Linear(6, 2)), (6,), r"activation '0' \(ReLU\) does not follow a conv or linear"),
    (nn.Sequential(nn.Flatten(), QCFS(4), nn.Linear(6, 2)), (6,), r"activation '1' \(QCFS\)"),
    (nn.Sequential(nn.Linear(6, 4), nn.ReLU()), (6,), r"end with a conv or linear.*'1' \(ReLU\)"),
    (nn.Sequential(nn.Flatten()), (6,), r"end with a conv or linear.*'0' \(Flatten\)"),
    (nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 2)), (6,), r"'1' \(Linear\) follows '0' \(Linear\) with no activation"),
    (conv(nn.AvgPool2d(2), nn.ReLU(), tail=nn.Linear(2 * 4 * 4, 2)), (1, 8, 8),
     r"average pool '1' \(AvgPool2d\) comes before the activation of '0' \(Conv2d\)"),
    (conv(nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True)), (1, 8, 8), r"module '2' \(AvgPool2d\)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, groups=1, dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2)),
     (1, 8, 8), r"module '0' \(Conv2d\): groups and dilation"),
    (nn.Sequential(nn.Linear(6, 4), nn.Hardtanh(-1, 1), nn.Linear(4, 2)), (6,), r"module '1' \(Hardtanh\)"),
    (nn.Sequential(nn.Linear(6, 4), QCFS(4, phi=0.0), nn.Linear(4, 2)), (6,), r"module '1' \(QCFS\).*φ"),
    (conv(nn.ReLU(), nn.AdaptiveAvgPool2d(2), tail=nn.Linear(8, 2)), (1, 8, 8),
     r"module '2' \(AdaptiveAvgPool2d\): only output_size=1"),
    (nn.Sequential(nn.Linear(6, 4), nn.ReLU(), Normalize(0.5, 0.2), nn.Linear(4, 2)), (6,),
     r"'2' \(Normalize\): input normalisation must come first"),
], ids=["maxpool", "F.max_pool2d", "sigmoid", "lstm", "gelu", "residual", "two-heads", "act-first",
        "qcfs-first", "no-output", "no-weights", "no-activation", "pool-before-act", "ceil-mode", "dilation",
        "hardtanh", "qcfs-phi", "adaptive-2", "late-normalize"])
def test_unsupported_models(model, shape, pattern):
    rejects(model.eval(), shape, pattern)


def test_wrong_input_shape():
    rejects(conv(nn.ReLU()).eval(), (3, 8, 8), r"Sequential fails on an input of shape \[3, 8, 8\]")


def test_relu_layer_dead_on_calibration_data():
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    with torch.no_grad():
        model[0].weight.fill_(-1.0)
        model[0].bias.fill_(-1.0)
    rejects(model, (6,), r"layer '0': no positive activation")


@pytest.mark.parametrize("options, field", [
    ({"timesteps": 0}, "timesteps"),
    ({"timesteps": 2.5}, "timesteps"),
    ({"weight_bits": 1}, "weight_bits"),
    ({"weight_bits": 17}, "weight_bits"),
    ({"input_bits": 0}, "input_bits"),
    ({"burst": 0}, "burst"),
    ({"burst": [1, 2, 3]}, "burst"),
    ({"burst": []}, "burst"),
    ({"percentile": 0}, "percentile"),
    ({"percentile": 100.5}, "percentile"),
    ({"percentile": "high"}, "percentile"),
    ({"v_init": "third"}, "v_init"),
    ({"norm": "mean"}, "norm"),
    ({"v_bits": 1}, "v_bits"),
    ({"acc_bits": 64}, "acc_bits"),
    ({"input_std": 0.0}, "input_std"),
    ({"input_std": [0.2, -1.0]}, "input_std"),
    ({"input_mean": "dark"}, "input_mean"),
], ids=lambda v: str(v))
def test_bad_options_name_the_field(options, field):
    message = rejects(convnets.relu_mlp(seed=30), (12,), f"option {field}", **options)
    assert message.startswith(f"option {field}:")


def test_burst_length_message_lists_layers():
    message = rejects(convnets.relu_mlp(seed=30), (12,), "option burst", burst=[1, 2, 3], timesteps=2)
    assert "3 values for 2 spiking layers (0, 3)" in message


@pytest.mark.parametrize("calibration, pattern", [
    (np.zeros((0, 12), np.uint8), "non-empty"),
    (np.full((2, 12), 1.5), r"\[0, 1\]"),
    (np.full((2, 12), 300), r"\[0, 255\]"),
    (np.full((2, 12), "a"), "integers or floats"),
])
def test_bad_calibration(calibration, pattern):
    with pytest.raises(ConversionError, match=pattern):
        convert_detailed(convnets.relu_mlp(seed=30), calibration, timesteps=2)


def test_not_a_model():
    with pytest.raises(ConversionError, match="expected a torch nn.Module"):
        convert_detailed({"weight": 1}, images((12,), 2), timesteps=2)
