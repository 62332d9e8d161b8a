"""Folds and lowering of :mod:`hwgen.convert`: exact in float before quantisation.

Each test compares the torch model's own float64 output with the folded
float plan (``Conversion.plan`` run by :func:`hwgen.reference.ann_logits`),
to 1e-5, and checks the structure the fold must produce.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import convnets
from convnets import folded_logits, images, model_logits, same_network
from hwgen import ConversionError
from hwgen.convert import convert_detailed
from hwgen.convert.fir import ActKind
from hwgen.nn import QCFS, Normalize

TOL = 1e-5


def check_folded(model, x, **options):
    """Convert and assert plan == model to TOL; return the conversion."""
    conversion = convert_detailed(model, x, timesteps=options.pop("timesteps", 4), **options)
    want = model_logits(model, x)
    got = folded_logits(conversion, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    assert np.abs(want).max() > 0.05  # not a degenerate all-zero network
    return conversion


def ops(conversion):
    return [(layer.op, None if layer.act is None else layer.act.kind) for layer in conversion.plan]


# --- BatchNorm --------------------------------------------------------------

@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm2d_fold(affine):
    """conv + BatchNorm2d (running stats, affine or not) folds into the conv."""
    torch.manual_seed(1)
    model = convnets.eval_model(nn.Sequential(
        nn.Conv2d(2, 5, 3, padding=1, bias=False), nn.BatchNorm2d(5, affine=affine), nn.ReLU(),
        nn.Flatten(), nn.Linear(5 * 6 * 6, 3)), seed=1)
    conversion = check_folded(model, images((2, 6, 6)))
    assert ops(conversion) == [("conv2d", ActKind.RELU), ("linear", None)]
    bn = model[1]
    scale = (bn.weight if affine else 1) / torch.sqrt(bn.running_var + bn.eps)
    expected = model[0].weight.detach().double() * scale.detach().double().reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(conversion.plan[0].weight, expected.numpy(), rtol=1e-6)


def test_batchnorm1d_fold():
    """linear + BatchNorm1d folds into the linear layer, bias included."""
    model = convnets.relu_mlp(seed=2)
    conversion = check_folded(model, images((12,), 64))
    assert ops(conversion) == [("linear", ActKind.RELU), ("linear", ActKind.RELU), ("linear", None)]


def test_batchnorm_without_preceding_layer_is_rejected():
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)).eval()
    with pytest.raises(ConversionError, match=r"'0' \(BatchNorm1d\)"):
        convert_detailed(model, images((4,)), timesteps=2)


# --- input normalisation ------------------------------------------------------

MEAN, STD = [0.4, 0.6, 0.5], [0.2, 0.3, 0.25]


def conv_head(padding: int = 0) -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=padding), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * (4 + 2 * padding) ** 2, 3)).eval()


def test_normalize_module_folds_into_unpadded_conv():
    head = conv_head()
    model = nn.Sequential(Normalize(MEAN, STD), *head).eval()
    conversion = check_folded(model, images((3, 6, 6)))
    assert ops(conversion) == [("conv2d", ActKind.RELU), ("linear", None)]


def test_input_mean_std_options_equal_normalize_module():
    """input_mean/input_std on a plain model == a Normalize module in front."""
    head = conv_head()
    x = images((3, 6, 6))
    with_module = convert_detailed(nn.Sequential(Normalize(MEAN, STD), *head).eval(), x, timesteps=4)
    with_options = convert_detailed(head, x, timesteps=4, input_mean=MEAN, input_std=STD)
    same_network(with_module.network, with_options.network, names=False)
    want = model_logits(nn.Sequential(Normalize(MEAN, STD), *head), x)
    np.testing.assert_allclose(folded_logits(with_options, x), want, atol=TOL)


@pytest.mark.parametrize("mean, std", [(MEAN, STD), (0.5, 0.25)], ids=["per-channel", "scalar"])
def test_normalisation_folds_into_linear_first_layer(mean, std):
    """Flatten + linear first layer: per-channel stats repeat over H·W (C-order)."""
    torch.manual_seed(4)
    model = nn.Sequential(Normalize(mean, std), nn.Flatten(), nn.Linear(3 * 4 * 4, 8), nn.ReLU(),
                          nn.Linear(8, 3)).eval()
    check_folded(model, images((3, 4, 4)))


def test_normalisation_folds_into_mlp_on_vectors():
    model = nn.Sequential(Normalize(0.3, 0.2), *convnets.relu_mlp(seed=5)).eval()
    check_folded(model, images((12,), 64))


def test_normalisation_into_padded_conv_warns():
    """Padding sees 0 after folding but -mean/std before: inexact at borders, so warn."""
    model = nn.Sequential(Normalize(MEAN, STD), *conv_head(padding=1)).eval()
    with pytest.warns(UserWarning, match="padded"):
        convert_detailed(model, images((3, 6, 6)), timesteps=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero mean: exact, no warning
        check_folded(nn.Sequential(Normalize([0, 0, 0], STD), *conv_head(padding=1)).eval(), images((3, 6, 6)))


# --- pooling ---------------------------------------------------------------------

def test_avgpool_becomes_sumpool_with_scale_folded():
    """AvgPool2d(2) -> sumpool2d; the next layer's weights carry the 1/4."""
    model = convnets.relu_cnn(seed=6)
    conversion = check_folded(model, images((2, 8, 8)))
    plan = conversion.plan
    assert ops(conversion) == [("conv2d", ActKind.RELU), ("sumpool2d", None), ("conv2d", ActKind.RELU),
                               ("sumpool2d", None), ("linear", None)]
    assert (plan[1].kernel, plan[1].stride) == ((2, 2), (2, 2))
    np.testing.assert_allclose(plan[2].weight, model[4].weight.detach().double().numpy() / 4, rtol=1e-7)
    # AdaptiveAvgPool2d(1) on a 4x4 map: a 4x4 sum pool, 1/16 into the linear layer
    assert (plan[3].kernel, plan[3].stride) == ((4, 4), (4, 4))
    np.testing.assert_allclose(plan[4].weight, model[8].weight.detach().double().numpy() / 16, rtol=1e-7)
    kinds = [layer.op.value for layer in conversion.network.layers]
    assert kinds == ["conv2d", "sumpool2d", "conv2d", "sumpool2d", "linear"]


def test_avgpool_with_padding_and_stride():
    """kernel 3, stride 2, padding 1, count_include_pad: zero padding, divisor 9."""
    torch.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(3, 2, 1), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 3)).eval()
    conversion = check_folded(model, images((1, 8, 8)))
    assert conversion.plan[1].padding == (1, 1)


# --- activations, flatten, dropout --------------------------------------------------

@pytest.mark.parametrize("act, lam", [(nn.ReLU6(), 6.0), (nn.Hardtanh(0.0, 0.75), 0.75)], ids=["relu6", "hardtanh"])
def test_clip_activations(act, lam):
    """ReLU6 / Hardtanh(0, m) keep their clip m as λ; the clip is active on the data."""
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(6, 10), act, nn.Linear(10, 3)).eval()
    with torch.no_grad():
        model[0].weight.mul_(lam * 3)
    x = images((6,), 64)
    conversion = check_folded(model, x)
    assert conversion.plan[0].act.kind is ActKind.CLIP and conversion.lambdas[conversion.plan[0].name] == lam
    pre = convnets.as_float(x) @ model[0].weight.T + model[0].bias
    assert (pre > lam).any() and (pre < 0).any()


class FunctionalClip(nn.Module):
    def __init__(self, how: str):
        super().__init__()
        torch.manual_seed(14)
        self.fc1, self.fc2, self.how = nn.Linear(6, 10), nn.Linear(10, 3), how
        with torch.no_grad():
            self.fc1.weight.mul_(8)

    def forward(self, x):
        x = self.fc1(x)
        x = {"F.relu6": lambda: F.relu6(x), "F.hardtanh": lambda: F.hardtanh(x, 0.0, 0.75),
             "torch.clamp": lambda: torch.clamp(x, min=0, max=0.75), "x.clamp": lambda: x.clamp(0, 0.75),
             "clamp-min": lambda: x.clamp(min=0)}[self.how]()
        return self.fc2(x)


@pytest.mark.parametrize("how, lam", [("F.relu6", 6.0), ("F.hardtanh", 0.75), ("torch.clamp", 0.75),
                                      ("x.clamp", 0.75), ("clamp-min", None)])
def test_functional_clips(how, lam):
    """Functional clips become CLIP with their bound; clamp(min=0) alone is a ReLU."""
    model = FunctionalClip(how).eval()
    conversion = check_folded(model, images((6,), 64))
    act = conversion.plan[0].act
    assert (act.kind, act.lam) == ((ActKind.CLIP, lam) if lam else (ActKind.RELU, None))
    if lam:
        assert conversion.lambdas["fc1"] == lam


def test_qcfs():
    model = convnets.qcfs_cnn(seed=9)
    x = images((1, 8, 8), 64)
    convnets.lively_qcfs(model, x)
    conversion = check_folded(model, x)
    acts = [layer.act for layer in conversion.plan if layer.act is not None]
    assert [a.kind for a in acts] == [ActKind.QCFS] * 3 and {a.levels for a in acts} == {4}
    qcfs = [m for m in model if isinstance(m, QCFS)]
    assert [a.lam for a in acts] == pytest.approx([float(m.lam.detach()) for m in qcfs], rel=1e-7)


def test_rnl():
    """RNL: θ = running_max · sigmoid(p), used as it is, and clipping on the data."""
    torch.manual_seed(10)
    model = nn.Sequential(nn.Linear(6, 10), convnets.rnl(2.0, 0.5), nn.Linear(10, 3)).eval()
    with torch.no_grad():
        model[0].weight.mul_(4)
    conversion = check_folded(model, images((6,), 64))
    theta = 2.0 / (1 + np.exp(-0.5))
    assert conversion.plan[0].act.kind is ActKind.RNL
    assert conversion.lambdas["0"] == pytest.approx(theta, rel=1e-6)


def test_dropout_is_dropped():
    model = convnets.relu_mlp(seed=11)
    with_dropout = nn.Sequential(*model[:3], nn.Dropout(0.5), *model[3:6], nn.Dropout(0.2), model[6]).eval()
    x = images((12,), 64)
    plain = convert_detailed(model, x, timesteps=4)
    dropped = check_folded(with_dropout, x)
    same_network(plain.network, dropped.network)


@pytest.mark.parametrize("flatten", ["view", "flatten", "mean"])
def test_functional_forward_equals_sequential(flatten):
    """F.relu / torch.relu / F.avg_pool2d / F.adaptive_avg_pool2d or mean / F.dropout /
    x.view or torch.flatten in a forward() convert to the Sequential's network."""
    sequential = convnets.relu_cnn(seed=12)
    functional = convnets.FunctionalCNN(sequential, flatten).eval()
    x = images((2, 8, 8))
    a = convert_detailed(sequential, x, timesteps=4)
    b = check_folded(functional, x)
    same_network(a.network, b.network)
    assert [layer.name for layer in b.network.layers] == ["conv1", "avg_pool2d", "conv2", b.plan[3].name, "fc"]


def test_conversion_restores_training_mode():
    model = convnets.relu_mlp(seed=13).train()
    convert_detailed(model, images((12,), 8), timesteps=2)
    assert model.training


# --- property: random small nets fold exactly ----------------------------------------

@st.composite
def small_nets(draw):
    """Random chains: optional Normalize, conv (+BN) + ReLU/ReLU6 (+avg pool), linear (+BN) + ReLU."""
    seed = draw(st.integers(0, 2**16))
    torch.manual_seed(seed)
    channels, size = draw(st.integers(1, 3)), draw(st.sampled_from([5, 6, 8]))
    shape = (channels, size, size)
    normalise = draw(st.booleans())
    layers = [Normalize([0.5] * channels, [0.25] * channels)] if normalise else []
    width = channels
    for index in range(draw(st.integers(0, 2))):
        if size < 3:
            break
        out, stride = draw(st.integers(1, 4)), draw(st.integers(1, 2))
        padding = 0 if normalise and index == 0 else draw(st.integers(0, 1))
        layers.append(nn.Conv2d(width, out, 3, stride=stride, padding=padding, bias=draw(st.booleans())))
        size, width = (size + 2 * padding - 3) // stride + 1, out
        if draw(st.booleans()):
            layers.append(nn.BatchNorm2d(out))
        layers.append(draw(st.sampled_from([nn.ReLU, nn.ReLU6]))())
        if size % 2 == 0 and draw(st.booleans()):
            layers.append(nn.AvgPool2d(2))
            size //= 2
    layers.append(nn.Flatten())
    features = width * size * size
    for _ in range(draw(st.integers(0, 2))):
        out = draw(st.integers(1, 6))
        layers.append(nn.Linear(features, out))
        if draw(st.booleans()):
            layers.append(nn.BatchNorm1d(out))
        layers.append(nn.ReLU())
        features = out
    layers.append(nn.Linear(features, draw(st.integers(1, 4))))
    return convnets.eval_model(nn.Sequential(*layers), seed), shape, seed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_nets())
def test_random_nets_fold_exactly(case):
    model, shape, seed = case
    x = images(shape, 16, seed)
    try:
        conversion = convert_detailed(model, x, timesteps=2)
    except ConversionError as err:  # a ReLU layer dead on all 16 images has no threshold
        assume("no positive activation" not in str(err))
        raise
    np.testing.assert_allclose(folded_logits(conversion, x), model_logits(model, x), rtol=0, atol=TOL)
