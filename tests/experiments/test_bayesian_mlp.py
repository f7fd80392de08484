"""The Bayesian-MLP experiment runs end to end, reports sane numbers, and resumes exactly."""

import json
from pathlib import Path

import pytest

from statjax.config import ConfigError, parse_config
from statjax.runs import create_run, execute, open_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bayesian_mlp(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.bayesian_mlp

    return experiments.bayesian_mlp


def _config(module, tmp_path, **changes):
    raw = {
        "name": "bayesian-mlp-test",
        "experiment": "experiments.bayesian_mlp",
        "output_dir": str(tmp_path),
        "checkpoint_every": 1,
        "methods": ["sgd", "csgld"],
        "hidden_sizes": [16],
        "num_epochs": 6,
        "burn_in_epochs": 2,
        "thin": 5,
        "max_samples": 4,
        "num_ood": 50,
        "optimizers": {"csgld_num_cycles": 2, "csgld_exploration": 0.5},
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


@pytest.mark.slow
def test_runs_reports_and_resumes_exactly(bayesian_mlp, tmp_path, monkeypatch, assert_same_files):
    config = _config(bayesian_mlp, tmp_path)
    full = create_run(config, quiet=True)
    expected = execute(full)
    full.close()
    assert list(expected["methods"]) == ["sgd", "csgld"]
    for method, entry in expected["methods"].items():
        assert 0.6 < entry["test_accuracy"] <= 1.0, (method, entry)
        assert 0.0 <= entry["test_ece"] <= 1.0 and entry["test_nll"] > 0
        assert entry["entropy_noise"] > entry["entropy_test"], (method, entry)
    assert expected["methods"]["sgd"]["num_samples"] == 1
    # 19 steps per epoch, 2 cycles of 57 steps, sampling in the second half of each.
    assert expected["methods"]["csgld"]["num_samples"] == 4
    assert expected["methods"]["csgld"]["mutual_information_test"] > 0
    assert set(expected["comparisons"]) == {"csgld"}
    for name in ("reliability.png", "entropy.png", "summary.json", "metrics.jsonl"):
        assert (full.directory / name).is_file()

    train, calls = bayesian_mlp.train, []

    def train_then_crash(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second method
        return train(*args, **kwargs)

    monkeypatch.setattr(bayesian_mlp, "train", train_then_crash)
    interrupted = create_run(config, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        execute(interrupted)
    interrupted.close()
    monkeypatch.setattr(bayesian_mlp, "train", train)
    resumed = open_run(interrupted.directory, quiet=True)
    execute(resumed)
    resumed.close()
    assert calls == ["sgd", "csgld"]
    # Byte for byte: the second run with one seed writes the same summary and metrics.
    assert_same_files(full.directory, resumed.directory)
    steps = [json.loads(line)["step"] for line in (resumed.directory / "metrics.jsonl").open()]
    assert steps == [1, 2]


def test_bad_config_names_the_key(bayesian_mlp, tmp_path):
    with pytest.raises(ConfigError, match="burn_in_epochs"):
        _config(bayesian_mlp, tmp_path, burn_in_epochs=6)
    with pytest.raises(ConfigError, match="methods"):
        _config(bayesian_mlp, tmp_path, methods=["sgd", "rmsprop"])
    with pytest.raises(ConfigError, match="methods"):
        _config(bayesian_mlp, tmp_path, methods=["sgd", "sgd"])
