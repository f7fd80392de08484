"""The loss large-deviation experiment: summary, plots, naive agreement, resume, config checks."""

import json
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute, open_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def experiment(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.loss_large_deviations

    return experiments.loss_large_deviations


def _config(experiment, tmp_path, **changes):
    raw = {
        "name": "loss-ld-test",
        "experiment": "experiments.loss_large_deviations",
        "seed": 1,
        "output_dir": str(tmp_path),
        "num_train": 100,
        "num_hidden": 4,
        "num_train_steps": 100,
        "scales": [0.1, 0.05],
        "tilts": [-0.2, 0.0, 0.5, 2.0, 5.0],
        "loss_levels": [1.0],
        "num_naive_draws": 512,
        "sampling": {
            "num_chains_per_tilt": 4,
            "num_adaptation_steps": 50,
            "num_steps": 100,
            "thin": 5,
        },
    }
    raw.update(changes)
    return parse_config(raw, experiment.Config)


@pytest.mark.slow
def test_runs_reports_rare_tails_and_resumes_exactly(
    experiment, tmp_path, monkeypatch, assert_same_files
):
    config = _config(experiment, tmp_path)
    full = create_run(config, quiet=True)
    expected = execute(full)
    full.close()
    for name in ("log_z.png", "rate_function.png", "tail_probability.png", "summary.json"):
        assert (full.directory / name).is_file()
    assert expected["num_parameters"] == 64 * 4 + 4 + 4 * 10 + 10
    assert 0.0 < expected["trained_loss"] < np.log(10.0)  # better than chance after training
    assert [scale["sigma"] for scale in expected["scales"]] == [0.1, 0.05]
    for scale in expected["scales"]:
        tilts = np.asarray(scale["tilts"])
        np.testing.assert_allclose(tilts, np.asarray(config.tilts) / scale["sigma"] ** 2)
        mean, rate = np.asarray(scale["loss_mean"]), np.asarray(scale["rate"])
        assert np.all(np.isfinite(mean)) and np.all(np.isfinite(rate))
        # <L>_k falls as k grows (d<L>/dk = -Var <= 0), each step within 4 standard errors.
        error = np.asarray(scale["loss_standard_error"])
        assert np.all(np.diff(mean) < 4 * (error[1:] + error[:-1])), scale
        assert mean[-1] < scale["typical_loss"] < mean[0]
        # The rate function is >= 0 (within 4 s.e.) and 0 at the typical loss.
        assert np.all(rate >= -4 * np.asarray(scale["rate_standard_error"])), scale
        assert rate[tilts == 0] == 0.0
        # Where naive sampling has data, tilted and naive tails agree (4 combined s.e.).
        agreement = scale["naive_agreement"]
        assert agreement["num_rungs_compared"] >= 2 and agreement["max_abs_z"] < 4.0, scale
    # The strongest tilt reaches probabilities that 512 naive draws cannot see.
    first = expected["scales"][0]
    assert first["smallest_log10_tail_probability"] < first["naive_log10_floor"]

    sample_scale, calls = experiment._sample_scale, []

    def sample_then_crash(*args, **kwargs):
        calls.append(args[4])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second scale
        return sample_scale(*args, **kwargs)

    monkeypatch.setattr(experiment, "_sample_scale", sample_then_crash)
    interrupted = create_run(config, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        execute(interrupted)
    interrupted.close()
    monkeypatch.setattr(experiment, "_sample_scale", sample_scale)
    resumed = open_run(interrupted.directory, quiet=True)
    execute(resumed)
    resumed.close()
    assert calls == [0.1, 0.05]
    # Byte for byte: the second run with one seed writes the same summary and metrics.
    assert_same_files(full.directory, resumed.directory)
    steps = [json.loads(line)["step"] for line in (resumed.directory / "metrics.jsonl").open()]
    assert steps == [1, 2, 3]  # training, then the two scales


def test_shipped_config_parses_and_bad_ladders_are_named(experiment, tmp_path):
    text = (REPO / "configs" / "loss_large_deviations.yaml").read_text()
    config = config_from_yaml(text, schema=experiment.Config)
    assert 0.0 in config.tilts and len(config.scales) == 2
    with pytest.raises(ConfigError, match="tilts"):
        _config(experiment, tmp_path, tilts=[0.5, 1.0, 2.0])
    with pytest.raises(ConfigError, match="tilts"):
        _config(experiment, tmp_path, tilts=[0.0, 2.0, 1.0])
    with pytest.raises(ConfigError, match="num_steps"):
        _config(experiment, tmp_path, sampling={"num_steps": 101, "thin": 5})
