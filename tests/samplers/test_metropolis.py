"""Metropolis: default draws unchanged, any symmetric proposal, scalar energies, beta = inf."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import Partial

import statjax
from statjax._tree import normal_and_log_uniform_like, tree_axpy
from statjax.pytree import Pytree
from statjax.samplers.metropolis import metropolis
from statjax.samplers.run import _run_chunk


def _quadratic(x):
    return 0.5 * jnp.sum(x**2)


class UniformProposal(Pytree):
    """``x' = x + U(-width, width)`` per entry: symmetric; ``width`` is a leaf."""

    width: jax.Array

    def __call__(self, key, position):
        return position + jax.random.uniform(
            key, position.shape, position.dtype, -self.width, self.width
        )


def _reference_step(energy_fn, step_size, key, position, energy, beta):
    """The random-walk step as it was written before the proposal argument existed."""
    noise, log_uniform = normal_and_log_uniform_like(key, position)
    proposed = tree_axpy(step_size, noise, position)
    proposed_energy = jnp.asarray(energy_fn(proposed))
    accept = log_uniform < -beta * (proposed_energy - energy)
    return jnp.where(accept, proposed, position), jnp.where(accept, proposed_energy, energy)


def test_default_random_walk_draws_are_unchanged():
    kernel = metropolis(_quadratic, 0.7)
    position = jnp.array([0.3, -1.2, 2.0])
    state = kernel.init(position)
    for seed in range(20):
        key = jax.random.key(seed)
        new, _ = kernel.step(key, state, 1.5)
        expected = _reference_step(_quadratic, 0.7, key, state.position, state.energy, 1.5)
        np.testing.assert_array_equal(new.position, expected[0])
        np.testing.assert_array_equal(new.energy, expected[1])
        state = new


def test_a_symmetric_proposal_samples_the_gaussian():
    """``E = x^2 / 2`` at beta = 2: variance 1 / 2 per coordinate, within 5 standard errors."""
    beta, num_chains, num_steps, burn_in = 2.0, 256, 600, 100
    kernel = metropolis(_quadratic, proposal=UniformProposal(jnp.asarray(1.2)))
    _, trace = statjax.run_chains(
        kernel,
        jax.random.key(1),
        jnp.full((num_chains, 2), 2.0),
        num_steps,
        beta=beta,
        observe=lambda state: state.position,
    )
    draws = np.asarray(trace[burn_in:], np.float64)
    # Chains are independent: the spread of the per-chain variances gives the error bar.
    per_chain = (draws**2).mean(axis=0).mean(axis=-1)
    stderr = per_chain.std(ddof=1) / math.sqrt(num_chains)
    assert abs(per_chain.mean() - 1.0 / beta) < 5 * stderr, (per_chain.mean(), stderr)


def test_proposal_numbers_are_leaves_and_plain_functions_work():
    _run_chunk.clear_cache()
    for width in (0.5, 1.5):
        kernel = metropolis(_quadratic, proposal=UniformProposal(jnp.asarray(width)))
        statjax.run_chains(kernel, jax.random.key(0), jnp.zeros((2, 2)), 5)
    assert _run_chunk._cache_size() == 1
    shift = Partial(lambda width, key, x: x + width * jax.random.normal(key, x.shape), 0.3)
    final, _ = statjax.run_chains(
        metropolis(_quadratic, proposal=shift), jax.random.key(0), jnp.zeros((2, 2)), 5
    )
    assert bool(jnp.all(jnp.isfinite(final.energy)))


def test_legacy_and_typed_keys_agree_with_a_proposal():
    kernel = metropolis(_quadratic, proposal=UniformProposal(jnp.asarray(0.8)))
    typed, _ = statjax.run_chains(kernel, jax.random.key(3), jnp.zeros((3, 2)), 10)
    legacy, _ = statjax.run_chains(kernel, jax.random.PRNGKey(3), jnp.zeros((3, 2)), 10)
    np.testing.assert_array_equal(typed.position, legacy.position)


@pytest.mark.parametrize("proposal", [None, UniformProposal(jnp.asarray(1.0))])
def test_a_vector_energy_is_refused(proposal):
    kernel = metropolis(lambda x: x**2, proposal=proposal)
    with pytest.raises(ValueError, match="one scalar"):
        kernel.init(jnp.zeros(3))
    with pytest.raises(ValueError, match="one scalar"):
        statjax.run_chains(kernel, jax.random.key(0), jnp.zeros((2, 3)), 3)


class Flip(Pytree):
    """Proposes ``-x``: symmetric; with ``E(x) = x^2`` every proposal is a tie."""

    def __call__(self, key, position):
        del key
        return -position


def test_zero_temperature_accepts_only_strict_descent():
    # Ties: E(-x) = E(x). At beta = inf a tie is refused (no -inf * 0 = NaN anywhere).
    kernel = metropolis(lambda x: jnp.sum(x**2), proposal=Flip())
    state = kernel.init(jnp.array([1.0, -2.0]))
    new, info = kernel.step(jax.random.key(0), state, jnp.inf)
    np.testing.assert_array_equal(new.position, state.position)
    assert not bool(info.is_accepted) and float(info.acceptance_rate) == 0.0
    assert bool(jnp.isfinite(new.energy))
    # At a finite beta the same tie is always accepted (ratio exp(0) = 1).
    new, info = kernel.step(jax.random.key(0), state, 3.0)
    assert bool(info.is_accepted) and float(info.acceptance_rate) == 1.0

    # The random walk at beta = inf: energies never rise, and every move lowers them.
    walker = metropolis(_quadratic, 0.3)
    _final, energies = statjax.run_chains(
        walker,
        jax.random.key(4),
        jnp.full((16, 2), 1.5),
        200,
        beta=jnp.inf,
        observe=lambda state: state.energy,
    )
    energies = np.asarray(energies)
    assert np.all(np.isfinite(energies))
    assert np.all(np.diff(energies, axis=0) <= 0)
    assert np.all(energies[-1] < energies[0])


def test_zero_temperature_refuses_nan_and_infinite_proposals():
    def energy(x):
        return jnp.where(x[0] > 0.2, jnp.nan, jnp.where(x[0] < -0.2, -jnp.inf, x[0] ** 2))

    final, _ = statjax.run_chains(
        metropolis(energy, 1.0), jax.random.key(5), jnp.zeros((8, 1)), 50, beta=jnp.inf
    )
    assert bool(jnp.all(jnp.isfinite(final.energy)))
    assert bool(jnp.all(jnp.abs(final.position) <= 0.2))


def test_step_size_must_be_positive():
    with pytest.raises(ValueError, match="step_size"):
        metropolis(_quadratic, -0.1)
