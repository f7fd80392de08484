"""The dense-memory capacity experiment on a tiny grid: the cubic memory outlasts the classical."""

from pathlib import Path

import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def experiment(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.dense_hopfield_capacity

    return experiments.dense_hopfield_capacity


def _config(module, tmp_path, **changes):
    raw = {
        "name": "dense-capacity-test",
        "experiment": "experiments.dense_hopfield_capacity",
        "output_dir": str(tmp_path),
        "sizes": [32],
        "interactions": ["classical", "cubic"],
        "loads": [0.5, 1.0],
        "num_networks": 2,
        "num_cues": 4,
        "num_sweeps": 3,
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


@pytest.mark.slow
def test_cubic_memory_retrieves_where_the_classical_fails(experiment, tmp_path):
    run = create_run(_config(experiment, tmp_path), quiet=True)
    summary = execute(run)
    run.close()
    curves = {curve["interaction"]: curve for curve in summary["curves"]}
    # Load 0.5 at N = 32: far beyond 0.138 but below the cubic capacity (32 / (6 ln 32) = 1.5).
    assert curves["cubic"]["retrieved_fraction"][0] == 1.0
    assert curves["classical"]["mean_overlap"][0] < 0.9
    assert (run.directory / "capacity.png").is_file()


def test_shipped_config_parses_and_bad_keys_are_named(experiment, tmp_path):
    config_from_yaml(
        (REPO / "configs" / "dense_hopfield_capacity.yaml").read_text(), schema=experiment.Config
    )
    with pytest.raises(ConfigError, match="interactions"):
        _config(experiment, tmp_path, interactions=["quartic"])
