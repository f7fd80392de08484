"""The digits RBM experiment: exact and AIS log-likelihoods agree; configs are checked."""

import json
from pathlib import Path

import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def rbm_digits(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.rbm_digits

    return experiments.rbm_digits


def _config(rbm_digits, tmp_path, **changes):
    raw = {
        "name": "rbm-digits-test",
        "experiment": "experiments.rbm_digits",
        "seed": 1,
        "output_dir": str(tmp_path),
        "hidden_sizes": [8],
        "methods": ["cd1", "pcd1"],
        "num_epochs": 3,
        "batch_size": 50,
        "log_every": 2,
        "ais": {"num_chains": 50, "schedule_scale": 0.05},
        "sampling": {"num_chains": 4, "num_steps": 20},
    }
    raw.update(changes)
    return parse_config(raw, rbm_digits.Config)


@pytest.mark.slow
def test_exact_and_ais_log_likelihoods_agree(
    rbm_digits, tmp_path, rerun_with_a_kill, assert_same_files
):
    config = _config(rbm_digits, tmp_path, checkpoint_every=1)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    assert [(m["num_hidden"], m["method"]) for m in summary["models"]] == [(8, "cd1"), (8, "pcd1")]
    for model in summary["models"]:
        # AIS log Z within 4 standard errors (+ float32 slack) of the enumeration.
        gap = abs(model["exact_minus_ais_test"])
        assert gap < 4 * model["ais_log_z_standard_error"] + 1e-3, model
        # Better than the base-rate model of the binarised digits (about -29 nats).
        assert model["exact_test_log_likelihood"] > -29.0
    assert summary["num_train"] + summary["num_test"] == 1797
    for name in ("filters.png", "samples.png", "metrics.jsonl", "summary.json"):
        assert (run.directory / name).exists()
    lines = [
        json.loads(line) for line in (run.directory / "metrics.jsonl").read_text().splitlines()
    ]
    # One line per model, with its curves at epochs 2 and 3 (log_every = 2, and the last).
    assert [(line["step"], line["method"], line["epoch"]) for line in lines] == [
        (1, "cd1", [2, 3]), (2, "pcd1", [2, 3])
    ]  # fmt: skip
    assert "train_seconds" not in summary["models"][0]
    assert set(json.loads((run.directory / "timings.json").read_text())) == {
        "train H=8 cd1", "train H=8 pcd1"
    }  # fmt: skip
    # A checkpoint per model: killed after the first, resumed.
    assert_same_files(run.directory, rerun_with_a_kill(config))


def test_shipped_config_parses_and_bad_methods_are_named(rbm_digits, tmp_path):
    text = (REPO / "configs" / "rbm_digits.yaml").read_text()
    config = config_from_yaml(text, schema=rbm_digits.Config)
    assert config.hidden_sizes == (16, 100)
    with pytest.raises(ConfigError, match=r"methods\[1\]"):
        _config(rbm_digits, tmp_path, methods=["cd1", "gibbs"])
    with pytest.raises(ConfigError, match="pt_ladder"):
        _config(rbm_digits, tmp_path, pt_ladder=[0.5, 0.9])
