"""The accuracy sweep: step logits equal shorter runs; rows are complete."""
import dataclasses

import numpy as np
import torch

from hwgen import accuracy
from hwgen.convert.api import convert_detailed
from hwgen.data import Split
from hwgen.sim import golden
from hwgen.train import TrainConfig, demo_model


def _tiny():
    torch.manual_seed(0)
    model = demo_model(TrainConfig(channels=(2, 3), hidden=8, levels=2)).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 1, 28, 28), dtype=np.uint8)
    return model, Split(images, rng.integers(0, 10, 12))


def test_step_logits_equal_runs_with_fewer_timesteps():
    model, data = _tiny()
    network = convert_detailed(model, data.images, timesteps=5, burst=2).network
    full = golden.run(network, data.images)
    for steps in range(1, 6):
        short = golden.run(dataclasses.replace(network, timesteps=steps), data.images)
        assert np.array_equal(full.step_logits[:, steps - 1], short.logits), steps


def test_sweep_rows_cover_every_stage_burst_and_timestep():
    model, data = _tiny()
    config = accuracy.SweepConfig(timesteps=(1, 3), bursts=(1, 2), levels=2)
    rows = accuracy.sweep("tiny", model, data.images, data, config)
    keys = {(r.stage, r.burst, r.timesteps) for r in rows}
    assert ("float ANN", None, None) in keys and ("quantised ANN", 2, None) in keys
    for stage in ("float SNN", "integer SNN"):
        assert {(stage, b, t) for b in (1, 2) for t in (1, 3)} <= keys
    header, lines = accuracy.table(rows, "tiny", config)
    assert header[-2:] == ["T=1", "T=3"] and len(lines) == 2 + 4
    assert all(0 <= r.accuracy <= 1 for r in rows)


def test_sweep_with_bias_calibration_adds_its_stages():
    """One calibrated conversion per (Γ, T) in calibrated_timesteps; other T stay blank."""
    model, data = _tiny()
    config = accuracy.SweepConfig(timesteps=(1, 3), bursts=(1,), levels=2, bias_calibration="mse",
                                  calibrated_timesteps=(3,))
    rows = accuracy.sweep("tiny", model, data.images, data, config)
    calibrated = [r for r in rows if r.stage.endswith(accuracy.CALIBRATED)]
    assert sorted((r.stage, r.burst, r.timesteps) for r in calibrated) == [
        ("float SNN, bias cal.", 1, 3), ("integer SNN, bias cal.", 1, 3)]
    assert calibrated[0].saturations == 0
    header, lines = accuracy.table(rows, "tiny", config)
    assert [line[0] for line in lines[-2:]] == ["float SNN, bias cal.", "integer SNN, bias cal."]
    assert [line[-2] for line in lines[-2:]] == ["", ""] and all(line[-1] for line in lines[-2:])
