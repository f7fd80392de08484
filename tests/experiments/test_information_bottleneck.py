"""The VIB experiment, small: bounds ordered, compression falls with beta, resume is exact."""

import json
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute, open_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def information_bottleneck(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.information_bottleneck

    return experiments.information_bottleneck


def _config(module, tmp_path, **changes):
    raw = {
        "name": "vib-test",
        "experiment": "experiments.information_bottleneck",
        "seed": 1,
        "output_dir": str(tmp_path),
        "checkpoint_every": 2,
        "bottleneck_weights": [1e-3, 0.1, 3.0],
        "latent_dim": 4,
        "encoder_hidden_sizes": [32],
        "num_epochs": 6,
        "batch_size": 128,
        "learning_rate": 3e-3,
        "num_eval_samples": 4,
        "log_every": 3,
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


def test_bounds_are_ordered_compression_falls_with_beta_and_resume_is_exact(
    information_bottleneck, tmp_path, monkeypatch, assert_same_files
):
    config = _config(information_bottleneck, tmp_path)
    full = create_run(config, quiet=True)
    expected = execute(full)
    full.close()
    models = expected["models"]
    assert [m["bottleneck_weight"] for m in models] == [1e-3, 0.1, 3.0]
    assert expected["units"] == "nats"
    assert expected["label_entropy_train"] == pytest.approx(np.log(10), abs=2e-3)  # ~balanced
    for model in models:
        for split in ("train", "test"):
            upper = model[f"{split}_information_zx_upper"]
            lower = model[f"{split}_information_zy_lower"]
            assert np.isfinite(upper) and upper >= 0, model
            assert lower <= expected[f"label_entropy_{split}"] + 1e-6, model
    assert expected["lower_bound_below_upper_bound"]
    assert expected["information_zx_upper_decreases_with_weight"]
    weak, strong = models[0], models[-1]
    # beta = 3 > 1: the trivial code is optimal, the KL collapses towards 0 and with it accuracy.
    assert strong["train_information_zx_upper"] < 0.2 * weak["train_information_zx_upper"]
    assert weak["test_accuracy"] > 0.6 and weak["test_accuracy"] > strong["test_accuracy"]
    for name in ("information_plane.png", "accuracy.png", "summary.json", "metrics.jsonl"):
        assert (full.directory / name).is_file()

    train_epoch, calls = information_bottleneck.train_epoch, []

    def train_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # killed during epoch 5, after the checkpoint at 4
        return train_epoch(*args, **kwargs)

    monkeypatch.setattr(information_bottleneck, "train_epoch", train_then_crash)
    interrupted = create_run(config, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        execute(interrupted)
    interrupted.close()
    monkeypatch.setattr(information_bottleneck, "train_epoch", train_epoch)
    resumed = open_run(interrupted.directory, quiet=True)
    execute(resumed)
    resumed.close()
    # Byte for byte: the second run with one seed writes the same summary and metrics.
    assert_same_files(full.directory, resumed.directory)
    steps = [json.loads(line)["step"] for line in (resumed.directory / "metrics.jsonl").open()]
    assert steps == [3, 6]


def test_shipped_config_parses_and_bad_settings_are_named(information_bottleneck, tmp_path):
    config = config_from_yaml(
        (REPO / "configs" / "information_bottleneck.yaml").read_text(),
        schema=information_bottleneck.Config,
    )
    assert config.bottleneck_weights[0] == 1e-4 and config.bottleneck_weights[-1] == 1.0
    with pytest.raises(ConfigError, match="bottleneck_weights"):
        _config(information_bottleneck, tmp_path, bottleneck_weights=[0.1, 1e-3])
    with pytest.raises(ConfigError, match="bottleneck_weights"):
        _config(information_bottleneck, tmp_path, bottleneck_weights=[-1.0, 1.0])
    with pytest.raises(ConfigError, match="batch_size"):
        _config(information_bottleneck, tmp_path, batch_size=5000)
