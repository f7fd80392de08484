"""Parallel tempering: mode weights, swap rule, round trips, ladder adaptation, recompiles."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy import AnisotropicGaussian
from statjax.samplers.run import _run_chunk
from statjax.samplers.tempering import (
    adapted_ladder,
    positions_by_temperature,
    predicted_round_trip_rate,
    replica_exchange,
    state_at_temperature,
    tempering_statistics,
    tune_ladder,
)
from statjax.thermo.grid import grid_expectation

NUM_SIGMA = 4.0


def tilted_double_well(x):
    """Barrier 10 at beta = 1 (a local chain is stuck); the tilt makes the weights unequal."""
    return 10.0 * (x[0] ** 2 - 1.0) ** 2 + 0.5 * x[0]


def cold_in_right_well(state):
    return (state_at_temperature(state).position[0] > 0).astype(jnp.float32)


@pytest.fixture(scope="module")
def right_well_weight():
    return float(
        grid_expectation(
            tilted_double_well, lambda x: (x[0] > 0).astype(float), 1.0, -3.0, 3.0, 4001
        )
    )


def test_mode_weights_match_quadrature_where_a_single_chain_is_stuck(right_well_weight):
    num_chains, num_steps, burn_in = 16, 1500, 200
    inner = statjax.samplers.metropolis(tilted_double_well, 0.3)
    pt = replica_exchange(inner, jnp.geomspace(0.05, 1.0, 6))
    start = -jnp.ones((num_chains, 6, 1))  # every replica starts in the left well
    _, in_right = statjax.run_chains(
        pt, jax.random.key(0), start, num_steps, observe=cold_in_right_well
    )
    chain_means = np.asarray(in_right[burn_in:]).mean(0)  # independent PT runs
    standard_error = chain_means.std(ddof=1) / np.sqrt(num_chains)
    assert abs(chain_means.mean() - right_well_weight) < NUM_SIGMA * standard_error
    assert 0.2 < right_well_weight < 0.35

    _, single = statjax.run_chains(
        inner,
        jax.random.key(0),
        -jnp.ones((num_chains, 1)),
        num_steps,
        observe=lambda s: (s.position[0] > 0).astype(jnp.float32),
    )
    assert float(single.mean()) < 0.05  # stuck in the left well


def test_swaps_follow_the_scheme_and_keep_a_permutation():
    energy = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
    pt = replica_exchange(statjax.samplers.metropolis(energy, 0.5), jnp.array([0.2, 0.5, 1.0, 2.0]))
    state = pt.init(jax.random.normal(jax.random.key(1), (4, 2)))
    step = jax.jit(pt.step)
    for round_index in range(20):
        state, info = step(jax.random.key(round_index), state, 1.0)
        assert info.is_swap_proposed.tolist() == [k % 2 == round_index % 2 for k in range(3)]
        assert not bool(jnp.any(info.is_swap_accepted & ~info.is_swap_proposed))
        np.testing.assert_array_equal(
            np.asarray(state.temperature_index)[np.asarray(state.replica_index)], np.arange(4)
        )
    assert int(state.num_rounds) == 20
    assert int(state.num_swaps_proposed.sum()) == 30


def test_alpha_matches_exact_rule_for_frozen_replicas():
    """With a kernel that never moves, alpha is the exact rule on the initial energies."""
    energy = AnisotropicGaussian(mean=jnp.zeros(1), scales=jnp.ones(1))
    betas = jnp.array([0.5, 1.0, 3.0])
    frozen = statjax.samplers.metropolis(energy, 1e-30)
    pt = replica_exchange(frozen, betas, "stochastic")
    positions = jnp.array([[0.1], [2.0], [1.0]])
    state = pt.init(positions)
    _, info = jax.jit(pt.step)(jax.random.key(0), state, 1.0)
    energies = 0.5 * positions[:, 0] ** 2
    exact = jnp.minimum(1.0, jnp.exp((betas[:-1] - betas[1:]) * (energies[:-1] - energies[1:])))
    np.testing.assert_allclose(info.swap_acceptance_rate, exact, rtol=1e-5)


def test_non_reversible_round_trip_rate_beats_reversible():
    energy = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
    inner = statjax.samplers.hmc(energy, 0.5, 5)
    betas = jnp.geomspace(0.05, 1.0, 10)
    start = jax.random.normal(jax.random.key(2), (6, 10, 2))
    rates, predicted = {}, {}
    for scheme in ("deterministic", "stochastic"):
        pt = replica_exchange(inner, betas, scheme)
        final, _ = statjax.run_chains(pt, jax.random.key(3), start, 600)
        stats = tempering_statistics(final, betas)
        rates[scheme] = float(stats.round_trip_rate.mean())
        predicted[scheme] = float(predicted_round_trip_rate(stats.rejection_rates.mean(0), scheme))
    # Theorem 3 of Syed et al. is asymptotic and assumes perfect local mixing; HMC on a
    # Gaussian comes close: DEO measured ~20% below its prediction. (The reversible
    # scheme's first round trips take ~N^2 rounds, so its short-run rate is biased low.)
    assert (
        abs(rates["deterministic"] - predicted["deterministic"]) < 0.4 * predicted["deterministic"]
    )
    assert predicted["deterministic"] > 3.0 * predicted["stochastic"]
    assert rates["deterministic"] > 2.0 * rates["stochastic"]


def test_tune_ladder_rounds_share_one_program_and_equalise_rates():
    energy = AnisotropicGaussian(mean=jnp.zeros(4), scales=jnp.ones(4))
    pt = replica_exchange(statjax.samplers.hmc(energy, 0.5, 5), jnp.linspace(0.02, 1.0, 6))
    start = jax.random.normal(jax.random.key(6), (4, 6, 4))
    _run_chunk.clear_cache()
    tuning = tune_ladder(pt, jax.random.key(7), start, num_rounds=3, num_steps=50)
    assert _run_chunk._cache_size() == 1
    assert tuning.ladders.shape == (4, 6) and tuning.global_barriers.shape == (3,)
    assert tuning.positions.shape == (4, 6, 4)
    final, _ = statjax.run_chains(tuning.kernel, jax.random.key(8), tuning.positions, 200)
    rejection = tempering_statistics(final, tuning.kernel.betas).rejection_rates.mean(0)
    # the linear ladder's rates spread over ~0.8 (measured); adapted, they are nearly equal
    assert float(rejection.max() - rejection.min()) < 0.2
    assert float(tuning.ladders[-1, 0]) == pytest.approx(0.02)
    assert float(tuning.ladders[-1, -1]) == pytest.approx(1.0)
    # Lambda is a property of the path: nearly the same for any fine enough ladder
    barrier = float(rejection.sum())
    assert barrier == pytest.approx(float(tuning.global_barriers[-1]), rel=0.15)


def test_positions_by_temperature_follows_the_index_process():
    energy = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
    pt = replica_exchange(statjax.samplers.metropolis(energy, 0.5), jnp.array([0.2, 0.5, 1.0]))
    start = jax.random.normal(jax.random.key(0), (3, 3, 2))  # shapes as below: one compile
    final, _ = statjax.run_chains(pt, jax.random.key(0), start, 30, chunk_size=10)
    by_slot = positions_by_temperature(final)
    for chain in range(3):
        one = jax.tree_util.tree_map(lambda leaf, c=chain: leaf[c], final)
        np.testing.assert_array_equal(by_slot[chain, -1], state_at_temperature(one).position)


def test_new_ladder_or_step_size_never_recompiles():
    energy = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
    start = jnp.zeros((2, 4, 2))
    _run_chunk.clear_cache()
    for step_size, betas in [(0.3, [0.1, 0.2, 0.5, 1.0]), (0.6, [0.3, 0.4, 0.9, 2.0])]:
        pt = replica_exchange(statjax.samplers.mala(energy, step_size), jnp.array(betas))
        statjax.run_chains(pt, jax.random.key(0), start, 5)
    assert _run_chunk._cache_size() == 1


def test_n_steps_equal_two_halves():
    energy = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
    pt = replica_exchange(statjax.samplers.metropolis(energy, 0.5), jnp.array([0.2, 0.5, 1.0]))
    start = jax.random.normal(jax.random.key(0), (3, 3, 2))
    whole, _ = statjax.run_chains(pt, jax.random.key(1), start, 20, chunk_size=10)
    half, _ = statjax.run_chains(pt, jax.random.key(1), start, 10)
    half, _ = statjax.run_chains(pt, jax.random.key(1), half, 10, start_step=10)
    for a, b in zip(jax.tree_util.tree_leaves(whole), jax.tree_util.tree_leaves(half), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "betas, scheme, message",
    [
        ([1.0, 0.5], "deterministic", "increase strictly"),
        ([0.0, 1.0], "deterministic", "finite and > 0"),
        ([1.0], "deterministic", "at least 2"),
        ([0.5, 1.0], "sideways", "scheme must be"),
    ],
)
def test_bad_arguments_raise(betas, scheme, message):
    kernel = statjax.samplers.metropolis(lambda x: jnp.sum(x**2), 0.1)
    with pytest.raises(ValueError, match=message):
        replica_exchange(kernel, jnp.array(betas), scheme)


def test_adapted_ladder_checks_shapes():
    with pytest.raises(ValueError, match="rejection_rates must have shape"):
        adapted_ladder(jnp.array([0.1, 0.5, 1.0]), jnp.ones((4, 2)))


def test_info_follows_the_contract():
    energy = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
    betas = jnp.array([0.2, 0.5, 1.0, 2.0])
    pt = replica_exchange(statjax.samplers.metropolis(energy, 0.5), betas, "random_pair")
    assert "beta" in inspect.signature(pt.step).parameters
    assert inspect.signature(pt.step).parameters["beta"].default is inspect.Parameter.empty
    state = pt.init(jax.random.normal(jax.random.key(1), (4, 2)))
    step = jax.jit(pt.step)
    for round_index in range(10):
        state, info = step(jax.random.key(round_index), state, 1.0)
        proposed = np.asarray(info.is_swap_proposed)
        alpha = np.asarray(info.swap_acceptance_rate)
        np.testing.assert_allclose(info.acceptance_rate, alpha[proposed].mean(), rtol=1e-6)
        assert bool(info.is_accepted) == bool(np.any(info.is_swap_accepted))


def test_acceptance_rate_without_a_proposed_pair_is_the_mean_over_pairs():
    # R = 2 under DEO proposes the one pair at even rounds only.
    energy = AnisotropicGaussian(mean=jnp.zeros(1), scales=jnp.ones(1))
    pt = replica_exchange(statjax.samplers.metropolis(energy, 0.5), jnp.array([0.5, 1.0]))
    state = pt.init(jnp.array([[0.3], [1.5]]))
    state = state._replace(num_rounds=jnp.ones((), jnp.int32))  # an odd round
    _, info = jax.jit(pt.step)(jax.random.key(0), state, 1.0)
    assert not bool(np.any(info.is_swap_proposed)) and not bool(info.is_accepted)
    np.testing.assert_allclose(info.acceptance_rate, info.swap_acceptance_rate[0])


def test_non_finite_start_names_the_chain_and_the_replica():
    def walled(x):
        return jnp.where(x[0] > 5.0, jnp.inf, 0.5 * jnp.sum(x**2))

    pt = replica_exchange(statjax.samplers.metropolis(walled, 0.5), jnp.array([0.2, 0.5, 1.0]))
    start = jnp.zeros((4, 3, 1)).at[2, 1, 0].set(10.0)
    with pytest.raises(ValueError, match=r"\(chain, replica\) \[\(2, 1\)\]"):
        tune_ladder(pt, jax.random.key(0), start, 1, 10)
    with pytest.raises(ValueError, match=r"\[\(2, 1\)\]"):
        statjax.run_chains(pt, jax.random.key(0), start, 10)


def test_tune_ladder_follows_the_global_step_keys_and_takes_any_key():
    # One round of tune_ladder is run_chains from step 0; legacy and typed keys agree.
    energy = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
    pt = replica_exchange(statjax.samplers.metropolis(energy, 0.5), jnp.array([0.2, 0.5, 1.0]))
    start = jax.random.normal(jax.random.key(0), (3, 3, 2))
    final, _ = statjax.run_chains(pt, jax.random.key(1), start, 10)
    rejection = tempering_statistics(final, pt.betas).rejection_rates.mean(0)
    typed = tune_ladder(pt, jax.random.key(1), start, num_rounds=1, num_steps=10)
    np.testing.assert_array_equal(typed.positions, positions_by_temperature(final))
    np.testing.assert_array_equal(typed.ladders[-1], adapted_ladder(pt.betas, rejection))
    legacy = tune_ladder(pt, jax.random.PRNGKey(1), start, num_rounds=1, num_steps=10)
    np.testing.assert_array_equal(legacy.positions, typed.positions)
    with pytest.raises(ValueError, match="num_rounds"):
        tune_ladder(pt, jax.random.key(1), start, num_rounds=1.5)
    with pytest.raises(ValueError, match="num_steps"):
        tune_ladder(pt, jax.random.key(1), start, num_steps=0)
    with pytest.raises(ValueError, match="num_betas"):
        adapted_ladder(pt.betas, rejection, num_betas=2.5)
