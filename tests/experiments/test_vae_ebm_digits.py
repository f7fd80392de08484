"""The vae_ebm_digits experiment runs end to end on a tiny budget, resumes exactly."""

import json
from pathlib import Path

import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def vae_ebm_digits(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.vae_ebm_digits

    return experiments.vae_ebm_digits


def _config(module, tmp_path, **changes):
    raw = {
        "name": "vae-ebm-digits-test",
        "experiment": "experiments.vae_ebm_digits",
        "output_dir": str(tmp_path),
        "checkpoint_every": 10,
        "latent_dim": 2,
        "hidden_sizes": [16],
        "prior_hidden_sizes": [8],
        "num_seeds": 2,
        "num_steps": 20,
        "batch_size": 16,
        "learning_rate": 0.01,
        "langevin": {"num_prior_steps": 3, "num_posterior_steps": 2},
        "evaluation": {
            "num_importance_samples": 8,
            "num_elbo_samples": 2,
            "ais_chains": 16,
            "ais_temperatures": 4,
            "num_shown": 4,
        },
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


def test_runs_resumes_exactly_and_reports_both_priors(
    vae_ebm_digits, tmp_path, rerun_with_a_kill, assert_same_files
):
    config = _config(vae_ebm_digits, tmp_path)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    for name in ("ebm_prior", "gaussian_prior"):
        entry = summary[name]
        assert len(entry["per_seed"]) == 2
        # 64 binary pixels: log p(x) in (-64 log 2, 0); the IWAE estimate is above the ELBO
        # on average (with K = 8 samples and the same encoder, up to noise: loose check).
        assert -64 * 0.6932 < entry["test_log_likelihood"] < 0
        assert entry["test_elbo"] < 0
    assert summary["gaussian_prior"]["per_seed"][0]["log_z_prior"] == 0.0
    assert summary["ebm_prior"]["per_seed"][0]["log_z_prior_standard_error"] > 0
    assert (run.directory / "samples.png").is_file()
    timings = json.loads((run.directory / "timings.json").read_text())
    assert (
        "train_ebm_prior" in timings
        and "seconds" not in (run.directory / "summary.json").read_text()
    )
    assert_same_files(run.directory, rerun_with_a_kill(config))


def test_shipped_config_parses_and_bad_keys_are_named(vae_ebm_digits, tmp_path):
    config = config_from_yaml(
        (REPO / "configs" / "vae_ebm_digits.yaml").read_text(), schema=vae_ebm_digits.Config
    )
    assert config.num_steps % config.checkpoint_every == 0
    with pytest.raises(ConfigError, match="num_steps"):
        _config(vae_ebm_digits, tmp_path, num_steps=25)
    with pytest.raises(ConfigError, match="posterior_start"):
        _config(vae_ebm_digits, tmp_path, langevin={"posterior_start": "prior"})
