"""Every ``sampler.kind`` of the landscape experiment runs and reports its diagnostics.

A smoke test of the wiring (config -> kernel -> driver -> summary), not of the
samplers' correctness, which ``tests/samplers/`` checks against exact answers.
Each kind (and HMC with windowed adaptation) goes through the experiment's
kernel factory, adaptation, observation and summary code on a short driver run,
without the figures and checkpoints; ``tests/experiments/test_landscape.py``
runs the whole ``statjax run`` (whose summary holds the same
``sampler_diagnostics``) for MALA and HMC.
"""

from pathlib import Path

import jax
import numpy as np
import pytest

import statjax
from statjax.config import parse_config

REPO = Path(__file__).resolve().parents[2]

SETTINGS = {
    "nuts": {"step_size": 0.01, "max_tree_depth": 4},
    "mclmc": {"step_size": 0.02, "decoherence_length": 0.3},
    "baoab": {"step_size": 0.01, "friction": 5.0},
    "obabo": {"step_size": 0.01, "friction": 5.0},
    "nose_hoover": {"step_size": 0.005, "time_scale": 0.2},
    "hmc": {"step_size": 0.01, "num_integration_steps": 3, "adaptation_steps": 60},
}


@pytest.fixture
def landscape(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.landscape

    return experiments.landscape


def _config(landscape, tmp_path, sampler):
    return parse_config(
        {
            "name": f"landscape-{sampler['kind']}",
            "experiment": "experiments.landscape",
            "seed": 3,
            "output_dir": str(tmp_path),
            "checkpoint_every": 100,
            "temperatures": [20.0],
            "num_chains": 3,
            "num_steps": 100,
            "burn_in": 20,
            "thin": 20,
            "chunk_size": 100,
            "grid": {"num_points": 20},
            "sampler": sampler,
        },
        landscape.Config,
    )


@pytest.mark.parametrize("kind", sorted(SETTINGS))
def test_each_kind_builds_samples_and_summarises(landscape, tmp_path, kind):
    config = _config(landscape, tmp_path, {"kind": kind, **SETTINGS[kind]})
    betas = np.full(3, 1 / 20, np.float32)
    kernel, per_chain = landscape._adapted(landscape._kernel(config.sampler), config, betas)
    positions = np.asarray(landscape.MULLER_BROWN.minima(), np.float32)
    _, (_, _, energies, diagnostics) = statjax.run_chains(
        kernel,
        jax.random.key(0),
        positions,
        40,
        beta=betas,
        observe=landscape._observe,
        thin=20,
        per_chain=per_chain,
    )
    assert np.all(np.isfinite(np.asarray(energies)))
    zeros = {
        f"diagnostics_{name}": np.zeros(3, np.int64)
        for name in ("divergent", "tree_depth", "integration_steps", "diagnosed")
    }
    summary = landscape._sampler_diagnostics(
        kernel, landscape._tally_diagnostics(zeros, diagnostics), config
    )
    assert summary["kind"] == kind and summary["recorded_steps"] == 3 * 2
    if kind == "hmc":
        # Windowed adaptation: one step size and diagonal mass matrix per chain.
        assert per_chain == ("step_size", "inverse_mass_matrix")
        assert np.asarray(kernel.inverse_mass_matrix).shape == (3, 2)
        assert summary["mass_matrix_condition_number"]["min"] >= 1
        assert summary["step_size"]["min"] > 0
    else:
        assert summary["step_size"]["min"] == pytest.approx(SETTINGS[kind]["step_size"])
    if kind in ("hmc", "nuts", "obabo"):
        assert 0 <= summary["divergences"] <= 6
    if kind == "nuts":
        assert 1 <= summary["mean_tree_depth"] <= 4
        assert summary["mean_integration_steps"] >= 1
        assert summary["mass_matrix_condition_number"]["min"] == 1  # the identity
    if kind == "mclmc":
        assert summary["decoherence_length"] == pytest.approx(0.3)


@pytest.fixture
def ebm_2d(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import experiments.ebm_2d

    return experiments.ebm_2d


@pytest.mark.parametrize("kind", ["nuts", "mclmc", "baoab", "obabo"])
def test_ebm_2d_builds_each_new_kind(ebm_2d, kind):
    """The EBM's negative-chain sampler: the factory takes the energy, the step traces."""
    settings = ebm_2d.Sampler(kind=kind, step_size=0.05)
    kernel = ebm_2d._sampler(settings)(lambda x: 0.5 * jax.numpy.sum(x**2))
    state = jax.eval_shape(kernel.init, np.zeros(2, np.float32))
    state, info = jax.eval_shape(kernel.step, jax.random.key(0), state, 1.0)
    assert state.position.shape == (2,) and info.is_accepted.shape == ()
