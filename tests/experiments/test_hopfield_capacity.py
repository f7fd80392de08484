"""The Hopfield capacity experiment: retrieval collapses with the load, and it resumes exactly."""

import json
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, config_from_yaml, parse_config
from statjax.runs import create_run, execute, open_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def hopfield_capacity(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.hopfield_capacity

    return experiments.hopfield_capacity


def _config(module, tmp_path, **changes):
    raw = {
        "name": "hopfield-capacity-test",
        "experiment": "experiments.hopfield_capacity",
        "seed": 1,
        "output_dir": str(tmp_path),
        "sizes": [60],
        "temperatures": [0.0, 0.2],
        "loads": [0.05, 0.1, 0.3, 0.5],
        "num_networks": 4,
        "num_cues": 2,
        "num_sweeps": 8,
        "num_bootstrap": 20,
    }
    raw.update(changes)
    return parse_config(raw, module.Config)


def test_retrieval_collapses_with_load_and_the_run_resumes_exactly(
    hopfield_capacity, tmp_path, monkeypatch, assert_same_files
):
    config = _config(hopfield_capacity, tmp_path)
    full = create_run(config, quiet=True)
    expected = execute(full)
    full.close()
    assert [(c["temperature"], c["num_spins"]) for c in expected["curves"]] == [
        (0.0, 60), (0.2, 60)
    ]  # fmt: skip
    assert expected["ags_alpha_c"]["0.0"] == pytest.approx(0.138, abs=1e-3)
    for curve in expected["curves"]:
        overlap = np.array(curve["mean_overlap"])
        assert np.all(np.isfinite(overlap)) and np.all(np.abs(overlap) <= 1)
        # P = 3 of N = 60: every cue retrieved; P = 30: retrieval is gone.
        assert overlap[0] > 0.95 and overlap[-1] < config.threshold, curve
        assert 0.1 <= curve["alpha_c"] <= 0.5 and curve["alpha_c_error"] >= 0, curve
    assert set(expected["claims"]) >= {"alpha_c_lower_at_higher_T_for_every_N"}
    for name in ("capacity.png", "summary.json", "metrics.jsonl"):
        assert (full.directory / name).is_file()

    measure, calls = hopfield_capacity.measure, []

    def measure_then_crash(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second curve
        return measure(*args, **kwargs)

    monkeypatch.setattr(hopfield_capacity, "measure", measure_then_crash)
    interrupted = create_run(config, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        execute(interrupted)
    interrupted.close()
    monkeypatch.setattr(hopfield_capacity, "measure", measure)
    resumed = open_run(interrupted.directory, quiet=True)
    execute(resumed)
    resumed.close()
    assert calls == [0.0, 0.2]
    # Byte for byte: the second run with one seed writes the same summary and metrics.
    assert_same_files(full.directory, resumed.directory)
    steps = [json.loads(line)["step"] for line in (resumed.directory / "metrics.jsonl").open()]
    assert steps == [1, 2]


def test_shipped_config_parses_and_bad_settings_are_named(hopfield_capacity, tmp_path):
    text = (REPO / "configs" / "hopfield_capacity.yaml").read_text()
    config = config_from_yaml(text, schema=hopfield_capacity.Config)
    assert config.sizes == (100, 200, 400) and config.temperatures == (0.0, 0.1)
    with pytest.raises(ConfigError, match="loads"):
        _config(hopfield_capacity, tmp_path, loads=[0.1, 0.05, 0.3])
    with pytest.raises(ConfigError, match="num_cues"):
        _config(hopfield_capacity, tmp_path, num_cues=4)
    with pytest.raises(ConfigError, match="temperatures"):
        _config(hopfield_capacity, tmp_path, temperatures=[-0.1])
