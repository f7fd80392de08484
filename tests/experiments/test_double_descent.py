"""Double descent at small size: the min-norm peak sits at p = n and ridge removes it."""

import json
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def double_descent(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.double_descent

    return experiments.double_descent


def _config(module, tmp_path, **changes):
    raw = {
        "name": "double-descent-test",
        "experiment": "experiments.double_descent",
        "seed": 3,
        "output_dir": str(tmp_path),
        "input_dim": 10,
        "num_train": 20,
        "num_validation": 40,
        "num_test": 200,
        "feature_ratios": [0.5, 0.8, 1.0, 1.25, 2.0],
        "num_seeds": 10,
        "num_ridges": 9,
        "ridge_min": 1e-4,
        "ridge_max": 10.0,
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


def test_peak_sits_at_the_interpolation_threshold_and_ridge_removes_it(
    double_descent, tmp_path, rerun_with_a_kill, assert_same_files
):
    config = _config(double_descent, tmp_path, checkpoint_every=2)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    peaks = summary["peaks"]
    assert summary["num_features"] == [10, 16, 20, 25, 40]
    assert peaks["min_norm"]["peak_ratio"] == 1.0  # the grid step each side is 0.8 and 1.25
    assert summary["min_norm_peak_at_threshold"]
    min_norm = np.asarray(summary["test_error"]["min_norm"])
    # Not a standard-error comparison: at p = n the error's mean diverges (heavy tails).
    assert peaks["min_norm"]["peak_to_neighbour_ratio"] > 3.0
    assert summary["ridge_removes_peak"]
    for name in ("ridge_tuned", "ridge_oracle"):
        curve = np.asarray(summary["test_error"][name])
        assert peaks[name]["peak_to_neighbour_ratio"] < 1.0, name
        assert np.all(np.isfinite(curve)) and np.all(curve < min_norm + 1e-9), name
        # Ridge never beats the noise floor by more than sampling error of the test set.
        assert np.all(curve > 0.5 * summary["noise_floor"]), name
    # Min-norm interpolates past the threshold.
    assert max(summary["train_error_min_norm"][3:]) < 1e-6
    for name in ("double_descent.png", "metrics.jsonl", "summary.json"):
        assert (run.directory / name).is_file()
    lines = (run.directory / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["num_features"] for line in lines] == [10, 16, 20, 25, 40]
    # Checkpoints after 2, 4 and 5 feature counts: killed after the first, resumed.
    assert_same_files(run.directory, rerun_with_a_kill(config))


def test_shipped_config_parses_and_bad_grids_are_named(double_descent, tmp_path):
    config = config_from_yaml(
        (REPO / "configs" / "double_descent.yaml").read_text(), schema=double_descent.Config
    )
    assert 1.0 in config.feature_ratios
    with pytest.raises(ConfigError, match="feature_ratios"):
        _config(double_descent, tmp_path, feature_ratios=[0.5, 0.9, 1.5])  # no p = n
    with pytest.raises(ConfigError, match="feature_ratios"):
        _config(double_descent, tmp_path, feature_ratios=[0.5, 1.0])  # no right neighbour
    with pytest.raises(ConfigError, match="feature_ratios"):
        _config(double_descent, tmp_path, feature_ratios=[1.0, 0.5, 2.0])
    with pytest.raises(ConfigError, match="ridge_max"):
        _config(double_descent, tmp_path, ridge_max=1e-5)
