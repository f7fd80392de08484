"""The free-energy experiment: AIS and TI agree with exact log Z; checkpoints; config checks."""

import json
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def free_energy(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.free_energy

    return experiments.free_energy


def _config(free_energy, tmp_path, **changes):
    raw = {
        "name": "free-energy-test",
        "experiment": "experiments.free_energy",
        "seed": 3,
        "output_dir": str(tmp_path),
        "checkpoint_every": 1,
        "num_temperatures": [4, 8],
        "num_chains": 32,
        "ti_steps": 40,
        "ti_burn_in": 10,
        "ising": {"size": 2, "beta": 0.5},
    }
    raw.update(changes)
    return parse_config(raw, free_energy.Config)


@pytest.mark.slow
def test_estimates_agree_with_exact_log_z(
    free_energy, tmp_path, rerun_with_a_kill, assert_same_files
):
    config = _config(free_energy, tmp_path)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    assert summary["all_agree"], summary
    ising = summary["systems"]["ising"]
    # 2x2 periodic lattice: every bond counted twice, Z = 2 e^{8b} + 12 + 2 e^{-8b}
    exact = np.log(2 * np.exp(4.0) + 12 + 2 * np.exp(-4.0))
    assert ising["exact_log_z"] == pytest.approx(exact, rel=1e-5)
    for system in ("ring", "ising"):
        for method in ("ais", "ti"):
            assert len(summary["systems"][system][method]["log_z"]) == 2
    steps = [json.loads(line)["step"] for line in (run.directory / "metrics.jsonl").open()]
    assert steps == [1, 2]
    assert (run.directory / "errors.png").is_file()
    # Killed after the first entry's checkpoint, resumed: the same files.
    assert_same_files(run.directory, rerun_with_a_kill(config))


def test_burn_in_must_leave_samples(free_energy, tmp_path):
    with pytest.raises(ConfigError, match="ti_burn_in"):
        _config(free_energy, tmp_path, ti_burn_in=39)
