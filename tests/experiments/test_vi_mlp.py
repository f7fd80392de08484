"""The VI experiment runs end to end, its free energy decomposes both ways, and it resumes."""

import json
import math
from pathlib import Path

import pytest

from statjax.config import ConfigError, parse_config
from statjax.runs import create_run, execute, open_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def vi_mlp(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.vi_mlp

    return experiments.vi_mlp


def _config(module, tmp_path, **changes):
    raw = {
        "name": "vi-mlp-test",
        "experiment": "experiments.vi_mlp",
        "output_dir": str(tmp_path),
        "checkpoint_every": 1,
        "temperatures": [1.0, 0.1],
        "hidden_sizes": [16],
        "num_epochs": 6,
        "num_ood": 50,
        "variational": {
            "learning_rate": 0.01,
            "num_predictive_samples": 8,
            "num_free_energy_samples": 4,
        },
        # SGLD and the other samplers are bayesian_mlp's, tested there; SGD compiles fastest.
        "baselines": {"methods": ["sgd"], "burn_in_epochs": 2},
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


@pytest.mark.slow
def test_runs_reports_decomposes_and_resumes_exactly(
    vi_mlp, tmp_path, monkeypatch, assert_same_files
):
    config = _config(vi_mlp, tmp_path)
    full = create_run(config, quiet=True)
    expected = execute(full)
    full.close()
    assert list(expected["methods"]) == ["vi_T1", "vi_T0.1", "sgd"]
    for method, entry in expected["methods"].items():
        assert 0.6 < entry["test_accuracy"] <= 1.0, (method, entry)
        assert 0.0 <= entry["test_ece"] <= 1.0 and entry["test_nll"] > 0
        assert entry["entropy_noise"] > entry["entropy_test"], (method, entry)
    for label, temperature in (("vi_T1", 1.0), ("vi_T0.1", 0.1)):
        entry = expected["methods"][label]
        assert entry["num_samples"] == 8 and entry["temperature"] == temperature
        values = [entry[name] for name in vi_mlp.FINAL_NAMES]
        assert all(math.isfinite(value) for value in values), entry
        # The two decompositions, computed independently, agree to float32 rounding.
        scale = abs(entry["energy"]) + temperature * abs(entry["entropy"])
        assert entry["decomposition_gap"] <= 1e-4 * scale, entry
        assert entry["energy_minus_t_entropy_gap"] <= 1e-4 * scale, entry
        assert math.isclose(entry["kl"], entry["prior_energy"] - entry["entropy"], rel_tol=1e-4)
        assert entry["free_energy"] < entry["train_free_energy_first_epoch"], entry
    # A colder posterior is narrower: lower entropy of q.
    assert expected["methods"]["vi_T0.1"]["entropy"] < expected["methods"]["vi_T1"]["entropy"]
    assert expected["methods"]["sgd"]["num_samples"] == 1
    assert expected["comparisons"]["vi_T1_free_energy_decreased"]
    for name in ("free_energy.png", "comparison.png", "reliability.png", "entropy.png"):
        assert (full.directory / name).is_file()

    train_vi, calls = vi_mlp.train_vi, []

    def train_then_crash(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second VI temperature
        return train_vi(*args, **kwargs)

    monkeypatch.setattr(vi_mlp, "train_vi", train_then_crash)
    interrupted = create_run(config, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        execute(interrupted)
    interrupted.close()
    monkeypatch.setattr(vi_mlp, "train_vi", train_vi)
    resumed = open_run(interrupted.directory, quiet=True)
    execute(resumed)
    resumed.close()
    assert calls == [1.0, 0.1]
    # Byte for byte: the second run with one seed writes the same summary and metrics.
    assert_same_files(full.directory, resumed.directory)
    steps = [json.loads(line)["step"] for line in (resumed.directory / "metrics.jsonl").open()]
    assert steps == [1, 2, 3]


def test_bad_config_names_the_key(vi_mlp, tmp_path):
    with pytest.raises(ConfigError, match="temperatures"):
        _config(vi_mlp, tmp_path, temperatures=[1.0, 1.0])
    with pytest.raises(ConfigError, match="temperatures"):
        _config(vi_mlp, tmp_path, temperatures=[0.0])
    with pytest.raises(ConfigError, match="burn_in_epochs"):
        _config(vi_mlp, tmp_path, baselines={"burn_in_epochs": 6})
    with pytest.raises(ConfigError, match="tempering"):
        _config(vi_mlp, tmp_path, variational={"tempering": "prior"})
