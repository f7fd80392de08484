"""The spin-glass experiment: SA finds exact SK ground states; P(q) above T_c; checks."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from statjax.config import ConfigError, parse_config
from statjax.energy.ising import sherrington_kirkpatrick
from statjax.runs import create_run, execute

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def spin_glass(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.spin_glass

    return experiments.spin_glass


def _config(spin_glass, tmp_path, **changes):
    raw = {
        "name": "spin-glass-test",
        "experiment": "experiments.spin_glass",
        "seed": 2,
        "output_dir": str(tmp_path),
        "sizes": [16],
        "num_instances": 2,
        "overlap_size": 16,
        "overlap_temperatures": [0.5, 2.0],
        "annealing": {"num_reads": 16, "num_sweeps": 200},
        "tempering": {
            "num_chains": 8,
            "num_replicas": 8,
            "min_temperature": 0.3,
            "max_temperature": 2.0,
            "num_sweeps": 300,
            "burn_in": 100,
            "record_every": 5,
        },
    }
    raw.update(changes)
    return parse_config(raw, spin_glass.Config)


def test_exact_ground_state_by_enumeration(spin_glass):
    model = sherrington_kirkpatrick(jax.random.key(0), 8)
    energy, spins = spin_glass.exact_ground_state(np.asarray(model.couplings))
    assert float(model(spins)) == pytest.approx(energy, abs=1e-5)
    # Every state (both signs of s_0): none lies below.
    index = np.arange(2**8)[:, None]
    states = 1 - 2 * ((index >> np.arange(8)) & 1)
    energies = np.asarray(jax.vmap(model)(states.astype(np.int8)))
    assert energies.min() == pytest.approx(energy, abs=1e-5)


def test_sa_reaches_exact_ground_state_and_pq_above_tc(
    spin_glass, tmp_path, rerun_with_a_kill, assert_same_files
):
    config = _config(spin_glass, tmp_path, checkpoint_every=1)
    run = create_run(config, quiet=True)
    summary = execute(run)
    run.close()
    for size in ("16",):
        entry = summary["sizes"][size]
        assert entry["sa_finds_exact"], entry
        for instance in entry["instances"]:
            assert instance["sa_best"] == pytest.approx(instance["exact_energy"], abs=1e-4)
            assert instance["pt_best"] == pytest.approx(instance["exact_energy"], abs=1e-4)
            assert instance["sa_success_probability"] > 0
    overlaps = {round(e["temperature"], 1): e for e in summary["overlaps"]["temperatures"]}
    hot, cold = overlaps[2.0], overlaps[0.5]
    # Above T_c, P(q) is one peak at q = 0: mean 0 and N <q^2> near 1 / (1 - beta^2) = 4/3.
    assert abs(hot["q_mean"]) < 4 * hot["q_mean_error"] + 0.02
    assert 0.7 < hot["chi_sg"] < 2.5
    density = np.asarray(hot["p_of_q"])
    edges = np.asarray(summary["overlaps"]["q_bin_edges"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert abs(centres[np.argmax(density)]) < 0.2
    # Below T_c the overlaps spread out: <q^2> much larger than at T = 2.
    assert cold["q2_mean"] > 2 * hot["q2_mean"]
    lines = [json.loads(line) for line in (run.directory / "metrics.jsonl").open()]
    assert [line["step"] for line in lines] == [1, 2]
    assert (run.directory / "spin_glass.png").is_file()
    # No wall-clock time in the summary or the metrics: they go to timings.json.
    assert set(json.loads((run.directory / "timings.json").read_text())) == {
        "N=16 simulated annealing",
        "N=16 parallel tempering",
    }
    # A checkpoint per instance: killed after the first, resumed.
    assert_same_files(run.directory, rerun_with_a_kill(config))


def test_overlap_size_must_be_a_size(spin_glass, tmp_path):
    with pytest.raises(ConfigError, match="overlap_size"):
        _config(spin_glass, tmp_path, overlap_size=32)


def test_tempering_needs_pairs(spin_glass, tmp_path):
    with pytest.raises(ConfigError, match="num_chains"):
        _config(spin_glass, tmp_path, tempering={"num_chains": 3})
