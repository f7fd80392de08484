"""Dense associative memories and the modern Hopfield update against exact answers.

- Retrieval: at loads far above the classical alpha_c = 0.138 but below the
  proven capacity (degree 3: ``N^2 / (2 * 3 * ln N) = 164`` patterns at N = 64,
  Demircigil et al. 2017; exponential: ``exp(N (1 - 2 rho)^2 / 2)`` with
  corruption rho = 0.1 is about 28,000 at N = 32), every cue with 10% of its spins
  flipped ends exactly on its pattern; the classical n = 2 memory at the same
  load does not.
- Zero temperature: the energy (recomputed from the spins, float64) never rises
  along a sweep sequence, at a load where the dynamics wander.
- Finite beta: the heat-bath sweep reproduces the enumerated law of an N = 8
  memory (chi-square over the 256 states, p > 1e-3; chains start from exact
  draws, so the final states are iid from the law under the null).
- Attention update: one step lands within Ramsauer et al.'s Theorem 5 bound of
  a well-separated pattern (bound < 1e-6), never raises the energy, and a second
  step does not move it.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

import statjax
from statjax.models.hopfield import corrupt, random_patterns
from statjax.models.hopfield.dense import (
    attention_update,
    dense_asynchronous_sweep,
    dense_memory,
    modern_hopfield_energy,
    one_step_retrieval_bound,
)

INF = float("inf")


def _retrieve(memory, patterns, seed, num_sweeps=4):
    cues = corrupt(jax.random.key(seed), patterns, 0.1)
    kernel = dense_asynchronous_sweep(memory)
    final, _ = statjax.run_chains(kernel, jax.random.key(seed + 1), cues, num_sweeps, beta=INF)
    return np.asarray(final.position), np.asarray(final.energy)


def test_retrieval_beyond_the_classical_capacity():
    patterns = random_patterns(jax.random.key(0), 40, 64)  # load 0.625
    final, _ = _retrieve(dense_memory(patterns, degree=3), patterns, 1)
    np.testing.assert_array_equal(final, np.asarray(patterns))
    classical, _ = _retrieve(dense_memory(patterns, degree=2), patterns, 1)
    assert np.mean(np.all(classical == np.asarray(patterns), axis=1)) < 0.5

    patterns = random_patterns(jax.random.key(2), 200, 32)  # load 6.25
    final, _ = _retrieve(dense_memory(patterns, "exponential"), patterns, 3)
    np.testing.assert_array_equal(final, np.asarray(patterns))


def _energies_float64(patterns, spins, degree):
    overlaps = np.asarray(spins, np.float64) @ np.asarray(patterns, np.float64).T
    return -np.sum(overlaps**degree, -1) / patterns.shape[1] ** (degree - 1)


def test_zero_temperature_never_raises_the_energy():
    patterns = np.asarray(random_patterns(jax.random.key(4), 60, 32))  # above capacity
    memory = dense_memory(patterns, degree=3)
    start = np.asarray(random_patterns(jax.random.key(5), 8, 32))
    _, spins = statjax.run_chains(
        dense_asynchronous_sweep(memory),
        jax.random.key(6),
        start,
        6,
        beta=INF,
        observe=lambda state: state.position,
    )
    path = np.concatenate([start[None], np.asarray(spins)])
    energies = _energies_float64(patterns, path, 3)
    assert np.all(np.diff(energies, axis=0) <= 0), energies
    assert np.any(np.diff(energies, axis=0) < 0)  # the dynamics did move


def test_finite_beta_sweep_reproduces_the_enumerated_law():
    patterns = random_patterns(jax.random.key(7), 3, 8)
    memory = dense_memory(patterns, degree=3)
    beta = 0.8
    states = np.array(list(itertools.product((-1, 1), repeat=8)), np.int8)
    energies = np.asarray(jax.vmap(memory)(states), np.float64)
    probabilities = np.exp(-beta * (energies - energies.min()))
    probabilities /= probabilities.sum()
    num_chains = 4000
    start = np.random.default_rng(8).choice(len(states), num_chains, p=probabilities)
    final, _ = statjax.run_chains(
        dense_asynchronous_sweep(memory), jax.random.key(9), states[start], 3, beta=beta
    )
    index = ((np.asarray(final.position) > 0) * (2 ** np.arange(7, -1, -1))).sum(1)
    assert np.mean(index != start) > 0.5
    counts = np.bincount(index, minlength=len(states))
    expected = probabilities * num_chains
    small = expected < 5
    observed = np.append(counts[~small], counts[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_attention_update_retrieves_in_one_step():
    patterns = jax.random.normal(jax.random.key(10), (20, 64))
    query = patterns[3] + 0.05 * jax.random.normal(jax.random.key(11), (64,))

    @jax.jit
    def check(patterns, query):
        once = attention_update(patterns, query)
        twice = attention_update(patterns, once)
        return (
            jnp.linalg.norm(once - patterns[3]),
            one_step_retrieval_bound(patterns, 3, query),
            jnp.linalg.norm(twice - once),
            modern_hopfield_energy(patterns, once) - modern_hopfield_energy(patterns, query),
        )

    error, bound, second_move, energy_change = (float(x) for x in check(patterns, query))
    assert error <= bound < 1e-6, (error, bound)
    assert second_move < 1e-5
    assert energy_change <= 0
