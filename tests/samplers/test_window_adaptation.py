"""Stan's windowed adaptation (statjax/samplers/window_adaptation.py) against exact answers.

- NUTS and HMC adapted on a 100-D Gaussian whose variances span 10^-2 .. 10^2
  (condition number 10^4): the adapted diagonal ``M^-1`` within 10 % of the
  true variances, and the means and variances of the following run within
  k = 4 standard errors (SE from the effective sample size of the same trace:
  ``sqrt(var / ESS(x))`` for the mean, ``sqrt(2) var / sqrt(ESS(x^2))`` for the
  mean of ``x^2``, Gaussian fourth moment), 64 chains, fixed seeds.
- HMC with a dense ``M^-1`` on a correlated 10-D Gaussian (the adaptation is
  the same code for NUTS; NUTS's dense path is checked against a hand-built
  tree in test_nuts.py): within 10 % of the
  true covariance in Frobenius norm (the expected error of the pooled estimate
  is ``sqrt((1 + tr(S)^2 / |S|_F^2) / n_eff)``, about 3 % here).
- The schedule is Stan's; two halves chained equal one call (per-chain dense
  adaptation); the Welford estimates equal numpy's.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.diagnostics import effective_sample_size
from statjax.pytree import Pytree
from statjax.samplers.nuts import nuts
from statjax.samplers.window_adaptation import (
    WelfordState,
    _welford_update,
    regularised_covariance,
    window_adaptation,
    window_schedule,
)

NUM_SIGMA = 4.0
NUM_CHAINS = 64
DIM = 100
VARIANCES = np.logspace(-2, 2, DIM).astype(np.float32)


class Gaussian(Pytree):
    """``E(x) = x^T P x / 2``; the precision ``P`` is a leaf (one compiled program per shape)."""

    precision: jax.Array

    def __call__(self, x):
        return 0.5 * jnp.dot(x, self.precision @ x)


class DiagonalGaussian(Pytree):
    """``E(x) = sum_i x_i^2 / (2 v_i)``: 100-D at the cost of 100 numbers per gradient."""

    variances: jax.Array

    def __call__(self, x):
        return 0.5 * jnp.sum(x**2 / self.variances)


def _positions(state, info):
    del info
    return state.position


def _assert_moments(samples, variances):
    samples = np.asarray(samples, np.float64)
    ess = np.asarray(effective_sample_size(samples, kind="basic"))
    ess_squares = np.asarray(effective_sample_size(samples**2, kind="basic"))
    mean_error = np.abs(samples.mean((0, 1)))
    np.testing.assert_array_less(mean_error, NUM_SIGMA * np.sqrt(variances / ess))
    square_error = np.abs((samples**2).mean((0, 1)) - variances)
    np.testing.assert_array_less(
        square_error, NUM_SIGMA * np.sqrt(2.0) * variances / np.sqrt(ess_squares)
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda energy: nuts(energy, 0.1, max_tree_depth=6),
        lambda energy: statjax.hmc(energy, 0.1, 16),
    ],
    ids=["nuts", "hmc"],
)
def test_adapted_diagonal_mass_matrix_on_an_ill_conditioned_gaussian(make):
    energy = DiagonalGaussian(jnp.asarray(VARIANCES))
    kernel, states, adaptation = window_adaptation(
        make(energy), jax.random.key(0), jnp.zeros((NUM_CHAINS, DIM)), 400
    )
    assert int(adaptation.step) == 400 and kernel.inverse_mass_matrix.shape == (DIM,)
    relative = np.asarray(kernel.inverse_mass_matrix) / VARIANCES
    np.testing.assert_array_less(np.abs(relative - 1.0), 0.1)
    _, samples = statjax.run_chains(kernel, jax.random.key(1), states, 200, observe=_positions)
    _assert_moments(samples, VARIANCES)


def test_adapted_dense_mass_matrix_on_a_correlated_gaussian():
    dim = 10
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    covariance = (rotation * np.logspace(-1, 1, dim)) @ rotation.T
    energy = Gaussian(jnp.asarray(np.linalg.inv(covariance), jnp.float32))
    kernel, _, _ = window_adaptation(
        statjax.hmc(energy, 0.1, 8),
        jax.random.key(2),
        jnp.zeros((NUM_CHAINS, dim)),
        400,
        dense=True,
    )
    estimate = np.asarray(kernel.inverse_mass_matrix, np.float64)
    assert estimate.shape == (dim, dim)
    error = np.linalg.norm(estimate - covariance) / np.linalg.norm(covariance)
    assert error < 0.1, error


def test_two_halves_equal_one_call_per_chain_dense():
    """HMC here: NUTS and HMC share every line of the adaptation, HMC compiles faster."""
    energy = Gaussian(jnp.asarray([[2.0, 0.5], [0.5, 1.0]], jnp.float32))
    kernel = statjax.hmc(energy, 0.3, 3)
    initial = jnp.asarray(np.random.default_rng(1).normal(size=(4, 2)), jnp.float32)
    key = jax.random.key(3)
    options = {"dense": True, "per_chain": True}
    whole, whole_states, whole_state = window_adaptation(kernel, key, initial, 60, **options)
    _, half_states, half_state = window_adaptation(
        kernel, key, initial, 60, stop_step=30, **options
    )
    assert int(half_state.step) == 30
    second, states, state = window_adaptation(
        kernel, key, half_states, 60, start_step=30, adaptation=half_state, **options
    )
    for got, expected in ((second, whole), (states, whole_states), (state, whole_state)):
        for a, b in zip(
            jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected), strict=True
        ):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert whole.step_size.shape == (4,) and whole.inverse_mass_matrix.shape == (4, 2, 2)
    # Every chain has its own estimate.
    assert not np.allclose(whole.inverse_mass_matrix[0], whole.inverse_mass_matrix[1])


def test_schedule_is_stans():
    schedule = window_schedule(1000)
    np.testing.assert_array_equal(np.flatnonzero(schedule[:, 1]), [99, 149, 249, 449, 949])
    assert schedule[:75, 0].sum() == 0 and schedule[950:, 0].sum() == 0
    assert schedule[75:950, 0].all()
    short = window_schedule(100)  # Stan's 15 % / 75 % / 10 % split
    np.testing.assert_array_equal(np.flatnonzero(short[:, 1]), [89])
    assert short[15:90, 0].all() and short[:, 0].sum() == 75


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("per_chain", [False, True])
def test_welford_equals_numpy(dense, per_chain):
    samples = np.random.default_rng(2).normal(size=(7, 3, 4)).astype(np.float32)  # steps, C, D
    lead = (3,) if per_chain else ()
    shape = (4, 4) if dense else (4,)
    state = WelfordState(jnp.zeros(()), jnp.zeros((*lead, 4)), jnp.zeros((*lead, *shape)))
    update = jax.jit(_welford_update, static_argnums=(2, 3))
    for batch in samples:
        state = update(state, jnp.asarray(batch), dense, per_chain)
    data = samples.transpose(1, 0, 2) if per_chain else samples.reshape(-1, 4)

    def covariance(x):
        return np.cov(x, rowvar=False) if dense else x.var(0, ddof=1)

    expected = np.stack([covariance(x) for x in data]) if per_chain else covariance(data)
    n = 7 if per_chain else 21
    shrink = 1e-3 * 5 / (n + 5)
    regularised = n / (n + 5) * expected + (shrink * np.eye(4) if dense else shrink)
    np.testing.assert_allclose(regularised_covariance(state, dense), regularised, rtol=1e-5)


def test_arguments_are_checked():
    kernel = nuts(Gaussian(jnp.eye(2)), 0.3)
    with pytest.raises(ValueError, match="adaptation"):
        window_adaptation(kernel, jax.random.key(0), jnp.zeros((2, 2)), 10, start_step=5)
    with pytest.raises(ValueError, match="stop_step"):
        window_adaptation(kernel, jax.random.key(0), jnp.zeros((2, 2)), 10, stop_step=11)
    with pytest.raises(ValueError, match="target_acceptance"):
        window_adaptation(kernel, jax.random.key(0), jnp.zeros((2, 2)), 10, target_acceptance=1)
