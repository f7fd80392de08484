"""The landscape experiment: sampled basin probabilities agree with grid quadrature."""

import json
from pathlib import Path

import numpy as np
import pytest

from statjax.config import parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]

NUM_SIGMA = 4.0
"""Tolerance in standard errors across chains: two-sided p ~ 6e-5 per comparison, fixed seed."""


@pytest.fixture
def landscape(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.landscape

    return experiments.landscape


def _config(landscape, tmp_path, **changes):
    raw = {
        "name": "landscape-test",
        "experiment": "experiments.landscape",
        "seed": 11,
        "output_dir": str(tmp_path),
        "checkpoint_every": 10000,
        # Hot enough that every chain leaves and re-enters the deepest basin many
        # times in 20k steps, so the chains forget their starting thirds.
        "temperatures": [20.0, 40.0],
        "num_chains": 64,
        "num_steps": 20000,
        "burn_in": 4000,
        "thin": 50,
        "chunk_size": 2000,
        "num_sigma": NUM_SIGMA,
        "grid": {"num_points": 150},
    }
    raw.update(changes)
    return parse_config(raw, landscape.Config)


def test_basin_probabilities_agree_with_grid_quadrature(landscape, tmp_path):
    config = _config(landscape, tmp_path)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()

    for entry in summary["temperatures"]:
        estimate = np.asarray(entry["basin_probability"])
        stderr = np.asarray(entry["standard_error"])
        exact = np.asarray(entry["grid_probability"])
        assert np.isclose(estimate.sum(), 1.0) and np.isclose(exact.sum(), 1.0, atol=1e-5)
        assert np.all(stderr > 0) and np.all(stderr < 0.03), stderr
        np.testing.assert_array_less(np.abs(estimate - exact), NUM_SIGMA * stderr)
        assert entry["agrees"]
        # Honesty of the error bar: chains really cross the largest barrier.
        assert entry["deep_basin_crossings_per_chain"] > 5, entry
        assert 0.4 < entry["acceptance_rate"] < 0.95, entry
    assert summary["all_agree"]
    assert json.loads((run.directory / "summary.json").read_text())["all_agree"]


def test_grid_probabilities_match_the_known_values(landscape):
    # Independent of the sampler: the basin weights at T = 20 on a finer grid, to 1e-3.
    grid = landscape.Grid(num_points=150)
    probabilities = landscape._grid_probabilities(np.array([20.0]), grid)[0]
    np.testing.assert_allclose(probabilities, [0.8060, 0.1290, 0.0650], atol=1e-3)


def test_hmc_sampler_runs_checkpoints_and_resumes_exactly(
    landscape, tmp_path, rerun_with_a_kill, assert_same_files
):
    config = _config(
        landscape,
        tmp_path,
        num_chains=4,
        num_steps=400,
        burn_in=100,
        thin=20,
        chunk_size=200,
        checkpoint_every=200,
        grid={"num_points": 30},
        sampler={"kind": "hmc", "step_size": 0.02, "num_integration_steps": 5},
    )
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    assert summary["sampler"] == "hmc"
    assert all(0.5 < entry["acceptance_rate"] <= 1.0 for entry in summary["temperatures"])
    steps = [json.loads(line)["step"] for line in (run.directory / "metrics.jsonl").open()]
    assert steps == [200, 400]
    # Killed after the checkpoint at step 200, resumed: the same files.
    assert_same_files(run.directory, rerun_with_a_kill(config))
