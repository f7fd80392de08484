"""The ising_free_energy experiment on a 4x4 lattice: every estimator agrees with Kaufman."""

from pathlib import Path

import pytest

from statjax.config import ConfigError, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def module(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.ising_free_energy

    return experiments.ising_free_energy


def _config(module, tmp_path, **changes):
    raw = {
        "name": "ising-free-energy-test",
        "experiment": "experiments.ising_free_energy",
        "seed": 1,
        "output_dir": str(tmp_path),
        "sizes": [4],
        "betas": [0.4],
        "num_sigma": 4.0,
        "smc": {
            "num_particles": 256,
            "num_runs": 8,
            "target_ess": 0.7,
            "sweeps_per_beta": 2,
            "max_stages": 64,
        },
        "pa": {
            "num_particles": 256,
            "num_runs": 8,
            "temperatures_per_side": 3,
            "sweeps_per_beta": 2,
        },
        "pt": {
            "beta_min": 0.05,
            "replicas_per_side": 2.0,
            "num_chains": 8,
            "num_sweeps": 1000,
            "burn_in": 100,
            "num_blocks": 10,
        },
        "wl": {"max_size": 4, "num_walkers": 8, "num_sweeps": 4000},
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


@pytest.mark.slow
def test_tiny_run_agrees_with_kaufman(module, tmp_path):
    run = create_run(_config(module, tmp_path), quiet=True)
    summary = execute(run)
    run.close()
    assert (run.directory / "error_vs_cost.png").is_file()
    assert {row["method"] for row in summary["table"]} == set(module.METHODS)
    assert len(summary["table"]) == len(module.METHODS)
    for row in summary["table"]:
        # k = 4 standard errors, each method's own error bar (summary["error_bars"]).
        assert row["agrees"], row
        assert 0.0 < row["error"] < 0.01, row
    assert summary["all_agree"]


def test_bad_config_is_refused(module, tmp_path):
    with pytest.raises(ConfigError, match="sizes"):
        _config(module, tmp_path, sizes=[5])
    with pytest.raises(ConfigError, match="methods"):
        _config(module, tmp_path, methods=["tea_leaves"])
    with pytest.raises(ConfigError, match="beta_min"):
        _config(module, tmp_path, betas=[0.01])
