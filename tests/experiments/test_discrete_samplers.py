"""The discrete-sampler comparison runs on a tiny grid and the samplers agree on the mean energy."""

from pathlib import Path

import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def experiment(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.discrete_samplers

    return experiments.discrete_samplers


def _config(module, tmp_path, **changes):
    raw = {
        "name": "discrete-samplers-test",
        "experiment": "experiments.discrete_samplers",
        "output_dir": str(tmp_path),
        "models": ["rbm"],
        "samplers": ["gwg", "gibbs"],
        "rbm_visible": 8,
        "rbm_hidden": 4,
        "num_chains": 8,
        "num_steps": 400,
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


@pytest.mark.slow
def test_runs_and_the_samplers_agree(experiment, tmp_path):
    run = create_run(_config(experiment, tmp_path), quiet=True)
    summary = execute(run)
    run.close()
    rows = summary["table"]["rbm"]
    gwg, gibbs = rows["gwg"], rows["gibbs"]
    assert gwg["ess_bulk"] > 10 and gibbs["ess_bulk"] > 10
    # Both sample F(v) of one RBM: their means agree within 5 combined standard errors.
    error = (gwg["energy_standard_error"] ** 2 + gibbs["energy_standard_error"] ** 2) ** 0.5
    assert abs(gwg["mean_energy"] - gibbs["mean_energy"]) < 5 * error
    assert set(run.timings()) == {"rbm/gwg", "rbm/gibbs"}
    assert (run.directory / "ess.png").is_file()


def test_shipped_config_parses_and_bad_keys_are_named(experiment, tmp_path):
    config_from_yaml(
        (REPO / "configs" / "discrete_samplers.yaml").read_text(), schema=experiment.Config
    )
    with pytest.raises(ConfigError, match="samplers"):
        _config(experiment, tmp_path, samplers=["hmc"])
