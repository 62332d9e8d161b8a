"""Fashion-MNIST IDX loading and the training helper, on tiny synthetic files."""
import gzip
import struct

import numpy as np
import pytest
import torch

from hwgen.data import ENV_VAR, FILES, load_split, read_idx, to_float
from hwgen.errors import DataError
from hwgen.train import Activation, TrainConfig, demo_model, evaluate, trained_model

from test_golden import run_cli


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_fashion(tmp_path):
    """Four IDX files: 64 train and 16 test images with labels 0..9."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 64), ("test", 16)):
        images, labels = FILES[split]
        write_idx(tmp_path / images, rng.integers(0, 256, (count, 28, 28)))
        write_idx(tmp_path / labels, np.arange(count) % 10)
    return tmp_path


def test_read_split_shapes_and_values(fake_fashion):
    split = load_split("test", fake_fashion)
    assert split.images.shape == (16, 1, 28, 28) and split.images.dtype == np.uint8
    assert split.labels.tolist() == [i % 10 for i in range(16)]
    assert np.array_equal(split.images[:, 0], read_idx(fake_fashion / FILES["test"][0]))
    assert to_float(split.images).max() <= 1.0 and split.head(3).labels.tolist() == [0, 1, 2]


def test_environment_variable_is_used(fake_fashion, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(fake_fashion))
    assert len(load_split("train")) == 64


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_split("train", tmp_path)


def test_truncated_and_foreign_files_are_data_errors(fake_fashion):
    path = fake_fashion / FILES["test"][0]
    raw = gzip.open(path).read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:-10])
    with pytest.raises(DataError, match="truncated"):
        load_split("test", fake_fashion)
    path.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="gzip"):
        load_split("test", fake_fashion)


def test_demo_cli_without_data_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "demo", "--data", tmp_path / "none", "-o", tmp_path / "out")
    assert code == 2 and err.startswith("hwgen: error: Fashion-MNIST not found") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_demo_model_shapes_for_both_activations():
    for activation in Activation:
        model = demo_model(TrainConfig(activation=activation)).eval()
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_config_key_depends_on_what_changes_weights():
    base = TrainConfig()
    assert base.key() == TrainConfig().key()
    assert len({base.key(), TrainConfig(epochs=3).key(), TrainConfig(seed=1).key(),
                TrainConfig(activation="relu").key()}) == 4
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def test_trained_model_is_cached(fake_fashion, tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "cache"))
    config, data = TrainConfig(epochs=1, batch_size=32), load_split("train", fake_fashion)
    epochs = []
    first = trained_model(config, data, lambda e, loss: epochs.append(loss))
    assert not first.cached and len(epochs) == 1 and first.path.is_file()
    second = trained_model(config, data)
    assert second.cached and second.path == first.path
    test = load_split("test", fake_fashion)
    assert evaluate(first.model, test) == evaluate(second.model, test)
