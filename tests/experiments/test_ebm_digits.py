"""The digits EBM runs end to end, separates data from noise, and resumes exactly."""

import json
from pathlib import Path

import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute, open_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ebm_digits(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.ebm_digits

    return experiments.ebm_digits


def _config(module, tmp_path, **changes):
    raw = {
        "name": "ebm-digits-test",
        "experiment": "experiments.ebm_digits",
        "output_dir": str(tmp_path),
        "checkpoint_every": 15,
        "features": [4, 8],
        "hidden_size": 8,
        "num_steps": 30,
        "batch_size": 32,
        "learning_rate": 2e-3,
        "num_sampling_steps": 10,
        "buffer_size": 200,
        "evaluation": {"num_samples": 64, "num_chain_steps": 10, "num_shown": 8},
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


@pytest.mark.slow
def test_runs_separates_data_from_noise_and_resumes_exactly(
    ebm_digits, tmp_path, monkeypatch, assert_same_files
):
    config = _config(ebm_digits, tmp_path)
    full = create_run(config, quiet=True)
    expected = execute(full)
    full.close()
    assert expected["num_train"] + expected["num_test"] == 1797
    energies = expected["mean_energy"]
    assert set(energies) == {"train", "test", "noise", "buffer", "fresh_chains"}
    # Even 30 updates push noise images above data images in energy.
    assert energies["noise"] > energies["test"] and expected["auc_test_below_noise"] > 0.9
    mmd = expected["mmd2_to_test"]
    assert set(mmd) == {"train_images", "replay_buffer", "fresh_chains", "uniform_noise"}
    # Train vs test is a draw under the null: far closer to 0 than noise vs test.
    assert abs(mmd["train_images"]) < 0.1 * mmd["uniform_noise"]
    for name in ("samples.png", "energies.png", "summary.json", "metrics.jsonl"):
        assert (full.directory / name).is_file()

    train, calls = ebm_digits.ebm.train_contrastive_divergence, []

    def train_then_crash(*args, **kwargs):
        calls.append(int(args[0].step))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second chunk of updates
        return train(*args, **kwargs)

    monkeypatch.setattr(ebm_digits.ebm, "train_contrastive_divergence", train_then_crash)
    interrupted = create_run(config, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        execute(interrupted)
    interrupted.close()
    monkeypatch.setattr(ebm_digits.ebm, "train_contrastive_divergence", train)
    resumed = open_run(interrupted.directory, quiet=True)
    execute(resumed)
    resumed.close()
    assert calls == [0, 15]
    # Byte for byte: the second run with one seed writes the same summary and metrics.
    assert_same_files(full.directory, resumed.directory)
    steps = [json.loads(line)["step"] for line in (resumed.directory / "metrics.jsonl").open()]
    assert steps == [15, 30]


def test_shipped_config_parses_and_bad_keys_are_named(ebm_digits, tmp_path):
    config = config_from_yaml(
        (REPO / "configs" / "ebm_digits.yaml").read_text(), schema=ebm_digits.Config
    )
    assert config.num_steps % config.checkpoint_every == 0
    with pytest.raises(ConfigError, match="num_steps"):
        _config(ebm_digits, tmp_path, num_steps=31)
    with pytest.raises(ConfigError, match="batch_size"):
        _config(ebm_digits, tmp_path, batch_size=400)
