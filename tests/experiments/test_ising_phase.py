"""The Ising phase experiment: a small run whose L = 4 curves match exact enumeration."""

import json
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, parse_config
from statjax.energy.ising import square_ising
from statjax.runs import create_run, execute, open_run
from statjax.thermo.exact import exact_thermodynamics

REPO = Path(__file__).resolve().parents[2]

NUM_SIGMA = 5.0


@pytest.fixture
def ising_phase(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.ising_phase

    return experiments.ising_phase


def _config(module, tmp_path, **changes):
    raw = {
        "name": "ising-phase-test",
        "experiment": "experiments.ising_phase",
        "seed": 3,
        "output_dir": str(tmp_path),
        "checkpoint_every": 200,
        "sizes": [4, 8],
        "temperatures": [1.8, 2.1, 2.3, 2.6, 3.2],
        "num_chains": 16,
        "num_sweeps": 800,
        "burn_in": 200,
        "autocorrelation": {"size": 8, "num_chains": 2, "num_sweeps": 200, "burn_in": 40},
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


@pytest.mark.slow
def test_small_run_matches_exact_enumeration(ising_phase, tmp_path):
    config = _config(ising_phase, tmp_path)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    assert (run.directory / "ising_phase.png").is_file()
    assert len(run.metrics()) == 2 * 800 // 200

    betas = 1 / np.asarray(config.temperatures)
    exact = exact_thermodynamics(square_ising(4), betas)
    observables = summary["observables"]["4"]
    for name, expected in [
        ("energy_per_spin", np.asarray(exact.mean_energy) / 16),
        ("heat_capacity_per_spin", np.asarray(exact.heat_capacity) / 16),
    ]:
        value = np.asarray(observables[name]["value"])
        error = np.asarray(observables[name]["error"])
        assert np.all(np.abs(value - expected) < NUM_SIGMA * error), (name, value, expected)
    (crossing,) = summary["binder_crossings"]
    assert crossing["sizes"] == [4, 8] and 2.0 < crossing["temperature"] < 2.6
    taus = summary["autocorrelation_at_critical_point"]["kernels"]
    assert set(taus) == {"metropolis", "heat_bath", "swendsen_wang"}


def test_config_errors_name_the_key(ising_phase, tmp_path):
    with pytest.raises(ConfigError, match="sizes"):
        _config(ising_phase, tmp_path, sizes=[5, 8])
    with pytest.raises(ConfigError, match="burn_in"):
        _config(ising_phase, tmp_path, burn_in=250)


def test_resumed_run_equals_the_uninterrupted_one(
    ising_phase, tmp_path, monkeypatch, assert_same_files
):
    # The settings of the test above, so that the compiled programs are reused.
    whole_run = create_run(_config(ising_phase, tmp_path / "whole"), quiet=True)
    whole = execute(whole_run)
    whole_run.close()

    run = create_run(_config(ising_phase, tmp_path / "cut"), quiet=True)
    save = run.save_checkpoint

    def save_then_fail(step, state, extras=None):
        save(step, state, extras)
        if step == 1200:  # size 8, 400 sweeps in: size 4 finished, size 8 measuring
            raise RuntimeError("interrupted")

    monkeypatch.setattr(run, "save_checkpoint", save_then_fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        execute(run)
    run.close()
    resumed_run = open_run(run.directory, quiet=True)
    resumed = execute(resumed_run)
    resumed_run.close()
    assert resumed["observables"] == whole["observables"]
    assert resumed["binder_crossings"] == whole["binder_crossings"]
    # Byte for byte (no wall-clock field in the summary: timings go to timings.json).
    assert_same_files(whole_run.directory, resumed_run.directory)
    assert "sampling L=8" in json.loads((resumed_run.directory / "timings.json").read_text())
