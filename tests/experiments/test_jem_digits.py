"""The JEM experiment runs end to end on a tiny budget and reports both models."""

from pathlib import Path

import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def jem_digits(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.jem_digits

    return experiments.jem_digits


def _config(module, tmp_path, **changes):
    raw = {
        "name": "jem-digits-test",
        "experiment": "experiments.jem_digits",
        "output_dir": str(tmp_path),
        "checkpoint_every": 20,
        "hidden_sizes": [16],
        "num_steps": 40,
        "batch_size": 16,
        "learning_rate": 0.01,
        "num_sampling_steps": 3,
        "buffer_size": 64,
        "num_ood": 40,
        "num_shown": 4,
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


@pytest.mark.slow
def test_runs_and_reports_both_models(jem_digits, tmp_path):
    run = create_run(_config(jem_digits, tmp_path), quiet=True)
    summary = execute(run)
    run.close()
    for name in ("classifier", "jem"):
        entry = summary[name]
        assert 0.5 < entry["accuracy"] <= 1.0, entry  # 40 updates already classify
        assert 0.0 <= entry["ece"] <= 1.0 and entry["nll"] > 0
        assert 0.0 <= entry["auc_energy_noise"] <= 1.0
    assert (run.directory / "samples.png").is_file()


def test_shipped_config_parses_and_bad_keys_are_named(jem_digits, tmp_path):
    config = config_from_yaml(
        (REPO / "configs" / "jem_digits.yaml").read_text(), schema=jem_digits.Config
    )
    assert config.num_steps % config.checkpoint_every == 0
    with pytest.raises(ConfigError, match="batch_size"):
        _config(jem_digits, tmp_path, batch_size=100)
