"""The annealed-MLP experiment: all three methods learn XOR; config checks; schedule."""

import json
from pathlib import Path

import numpy as np
import pytest

from statjax.config import ConfigError, parse_config
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def anneal_mlp(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.anneal_mlp

    return experiments.anneal_mlp


def _config(anneal_mlp, tmp_path, **changes):
    raw = {
        "name": "anneal-mlp-test",
        "experiment": "experiments.anneal_mlp",
        "seed": 1,
        "output_dir": str(tmp_path),
        "hidden_units": 8,
        "num_train": 256,
        "num_test": 512,
        "num_restarts": 4,
        "num_steps": 1500,
        "record_every": 500,
        "annealing": {"steps_per_temperature": 5},
    }
    raw.update(changes)
    return parse_config(raw, anneal_mlp.Config)


def test_every_method_learns_xor_and_resumes_exactly(
    anneal_mlp, tmp_path, rerun_with_a_kill, assert_same_files
):
    config = _config(anneal_mlp, tmp_path)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    accuracy = summary["final_test_accuracy"]
    assert set(accuracy) == {"annealing", "gradient_descent", "adam"}
    # Chance is 1/2; a linear classifier cannot beat ~0.5 on XOR either.
    for method, value in accuracy.items():
        assert value > 0.75, (method, value)
    annealing = summary["methods"]["annealing"]
    assert 0.0 < annealing["acceptance_rate"] < 1.0
    # The best point visited has a training loss no higher than the final one.
    best = np.asarray(annealing["best_visited"]["train_loss"]["per_restart"])
    final = np.asarray(annealing["train_loss"]["per_restart"])
    assert np.all(best <= final + 1e-6)
    steps = [json.loads(line)["step"] for line in (run.directory / "metrics.jsonl").open()]
    assert steps == [500, 1000, 1500]
    assert summary["iterations"] == [0, 500, 1000, 1500]
    assert (run.directory / "curves.png").is_file()
    # Checkpoints at iterations 1000 and 1500: killed after the first, resumed.
    assert_same_files(run.directory, rerun_with_a_kill(config))


def test_level_schedule_is_geometric(anneal_mlp):
    import jax.numpy as jnp
    from jax.tree_util import Partial

    schedule = Partial(anneal_mlp._level_temperature, 1.0, jnp.log(0.98), 10)
    values = np.asarray([schedule(k) for k in (0, 9, 10, 25)])
    np.testing.assert_allclose(values, [1.0, 1.0, 0.98, 0.98**2], rtol=1e-6)


def test_record_every_must_tile_the_run(anneal_mlp, tmp_path):
    with pytest.raises(ConfigError, match="num_steps"):
        _config(anneal_mlp, tmp_path, num_steps=1000, record_every=300)
    with pytest.raises(ConfigError, match="checkpoint_every"):
        _config(anneal_mlp, tmp_path, checkpoint_every=750)
