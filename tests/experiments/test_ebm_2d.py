"""The 2-D EBM experiment: exact true densities, sane likelihoods and MMDs, exact resume."""

import math
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute, open_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ebm_2d(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.ebm_2d

    return experiments.ebm_2d


def _config(module, tmp_path, **changes):
    raw = {
        "name": "ebm-2d-test",
        "experiment": "experiments.ebm_2d",
        "output_dir": str(tmp_path),
        "datasets": ["checkerboard"],
        "num_train": 400,
        "num_test": 300,
        "hidden_sizes": [16],
        "num_steps": 60,
        "log_every": 30,
        "batch_size": 64,
        "cd": {"num_sampling_steps": 5, "buffer_size": 128},
        "evaluation": {"num_grid_points": 60, "num_samples": 100, "num_chain_steps": 20},
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


def test_true_densities_are_normalised_and_match_their_samples(ebm_2d):
    # Each true density integrates to 1 on its box (trapezoid rule on a fine grid), and
    # the moons' quadrature in the angle agrees with a histogram of its own samples.
    for name, ((x0, y0), (x1, y1)) in ebm_2d.BOXES.items():
        xs, ys = np.linspace(x0, x1, 161), np.linspace(y0, y1, 161)
        grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
        density = np.exp(ebm_2d.true_log_density(name, grid)).reshape(161, 161)
        mass = np.trapezoid(np.trapezoid(density, ys, axis=1), xs)
        # Smooth densities: geometric convergence. The checkerboard's edges are
        # discontinuous, so its error is O(h) = O(0.035).
        assert abs(mass - 1.0) < (5e-2 if name == "checkerboard" else 1e-3), (name, mass)
    points = ebm_2d.sample_dataset("checkerboard", 1000, np.random.default_rng(0))
    np.testing.assert_allclose(ebm_2d.true_log_density("checkerboard", points), -math.log(8))


@pytest.mark.slow
def test_runs_reports_likelihoods_and_resumes_exactly(
    ebm_2d, tmp_path, monkeypatch, assert_same_files
):
    config = _config(ebm_2d, tmp_path)
    full = create_run(config, quiet=True)
    expected = execute(full)
    full.close()
    assert set(expected["datasets"]) == {"checkerboard"}
    checkerboard = expected["datasets"]["checkerboard"]
    assert checkerboard["true_test_log_likelihood"] == pytest.approx(-math.log(8))
    for name, entry in expected["datasets"].items():
        (x0, y0), (x1, y1) = ebm_2d.BOXES[name]
        uniform = -math.log((x1 - x0) * (y1 - y0))
        for objective in ("cd", "dsm"):
            model = entry[objective]
            # After 60 updates: finite, within 2 nats of the uniform density on the box,
            # and below the true density's (the gap estimates a KL divergence >= 0).
            assert uniform - 2.0 < model["test_log_likelihood"]
            assert model["gap_to_true"] > -4 * model["gap_standard_error"]
            assert model["gap_to_true"] == pytest.approx(
                entry["true_test_log_likelihood"] - model["test_log_likelihood"], abs=1e-5
            )
            assert all(math.isfinite(v) for v in model.values()), (name, objective, model)
        assert "mmd2_replay_buffer" in entry["cd"] and "mmd2_replay_buffer" not in entry["dsm"]
    for name in ("densities.png", "training.png", "summary.json", "metrics.jsonl"):
        assert (full.directory / name).is_file()

    train, calls = ebm_2d._train_model, []

    def train_then_crash(*args, **kwargs):
        calls.append((args[1], args[2]))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while training the second model
        return train(*args, **kwargs)

    monkeypatch.setattr(ebm_2d, "_train_model", train_then_crash)
    interrupted = create_run(config, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        execute(interrupted)
    interrupted.close()
    monkeypatch.setattr(ebm_2d, "_train_model", train)
    resumed = open_run(interrupted.directory, quiet=True)
    execute(resumed)
    resumed.close()
    assert calls == [("checkerboard", "cd"), ("checkerboard", "dsm")]
    # Byte for byte: the second run with one seed writes the same summary and metrics.
    assert_same_files(full.directory, resumed.directory)


def test_shipped_config_parses_and_bad_keys_are_named(ebm_2d, tmp_path):
    config = config_from_yaml((REPO / "configs" / "ebm_2d.yaml").read_text(), schema=ebm_2d.Config)
    assert config.datasets == ("ring", "moons", "checkerboard")
    with pytest.raises(ConfigError, match="num_steps"):
        _config(ebm_2d, tmp_path, num_steps=61)
    with pytest.raises(ConfigError, match="datasets"):
        _config(ebm_2d, tmp_path, datasets=["ring", "ring"])
    with pytest.raises(ConfigError, match=r"sampler\.kind"):
        _config(ebm_2d, tmp_path, cd={"sampler": {"kind": "gibbs"}})
