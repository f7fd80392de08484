"""The one driver: key rule, thinning, reducers, per-chain kernel leaves, keys of every kind."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.moments import running_moments_init, running_moments_update
from statjax.pytree import Pytree
from statjax.samplers.loop import (
    Reducer,
    chain_keys,
    init_chains,
    kernel_axes,
    per_chain_leaves,
    sample_chains,
)


def quadratic(x):
    return 0.5 * jnp.sum(x**2)


def energy_and_acceptance(state, info):
    return state.energy, info.acceptance_rate


def test_driver_equals_a_hand_written_loop_with_the_key_rule():
    kernel = statjax.mala(quadratic, 0.3)
    key = jax.random.key(3)
    states = init_chains(kernel, jnp.zeros((4, 2)))
    final, trace = sample_chains(
        kernel, key, states, 6, beta=2.0, start_step=5, observe=energy_and_acceptance
    )

    by_hand = states
    for step in range(5, 11):
        keys = chain_keys(key, step, 4)
        by_hand, _ = jax.vmap(kernel.step, in_axes=(0, 0, None))(keys, by_hand, 2.0)
    # Same keys and same arithmetic; two compiled programs may round differently.
    np.testing.assert_allclose(final.position, by_hand.position, rtol=1e-5, atol=1e-6)
    assert trace[0].shape == (6, 4)
    np.testing.assert_allclose(trace[0][-1], by_hand.energy, rtol=1e-5, atol=1e-6)


def test_thinning_keeps_every_thin_th_state_of_the_unthinned_run():
    kernel = statjax.metropolis(quadratic, 0.5)
    key = jax.random.key(0)
    states = init_chains(kernel, jnp.zeros((3, 2)))
    _, full = sample_chains(kernel, key, states, 12, observe=lambda s, i: s.position)
    _, thinned = sample_chains(kernel, key, states, 12, thin=4, observe=lambda s, i: s.position)
    np.testing.assert_array_equal(thinned, full[3::4])


def test_reducer_streams_the_same_moments_as_the_trace():
    kernel = statjax.mala(quadratic, 0.3)
    key = jax.random.key(1)
    states = init_chains(kernel, jnp.zeros((5, 2)))
    observe = lambda s, i: s.energy
    moments = Reducer(running_moments_init, lambda m, r, step: running_moments_update(m, r))
    _, trace = sample_chains(kernel, key, states, 20, observe=observe)
    _, streamed = sample_chains(kernel, key, states, 20, observe=observe, reducer=moments)
    np.testing.assert_allclose(streamed.mean, trace.mean(0), rtol=1e-5)
    np.testing.assert_allclose(streamed.variance, trace.var(0, ddof=1), rtol=1e-4)


def test_the_reducer_sees_the_global_step_of_each_record():
    kernel = statjax.metropolis(quadratic, 0.5)
    last_step = Reducer(lambda record: jnp.zeros((), jnp.int32), lambda c, r, step: step)
    states = init_chains(kernel, jnp.zeros((2, 1)))
    _, step = sample_chains(
        kernel,
        jax.random.key(0),
        states,
        12,
        start_step=7,
        thin=3,
        observe=lambda s, i: s.energy,
        reducer=last_step,
    )
    assert int(step) == 7 + 11


def test_per_chain_step_sizes_equal_separate_runs():
    step_sizes = jnp.array([0.05, 0.4, 1.2])
    key = jax.random.key(2)
    kernel = statjax.mala(quadratic, step_sizes)
    final, _ = statjax.run_chains(kernel, key, jnp.ones((3, 2)), 30, per_chain=("step_size",))
    for chain, step_size in enumerate(step_sizes):
        alone, _ = statjax.run_chains(statjax.mala(quadratic, step_size), key, jnp.ones((3, 2)), 30)
        np.testing.assert_allclose(final.position[chain], alone.position[chain], rtol=1e-6)


def test_per_chain_names_must_be_array_fields_with_a_chain_axis():
    kernel = statjax.mala(quadratic, jnp.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="not array fields of the kernel"):
        kernel_axes(kernel, ("stepsize",))
    with pytest.raises(ValueError, match="leading axis of 3 chains"):
        statjax.run_chains(
            kernel, jax.random.key(0), jnp.zeros((3, 2)), 2, per_chain=("step_size",)
        )


def test_legacy_and_typed_keys_give_the_same_numbers_in_every_mode():
    kernel = statjax.mala(quadratic, 0.2)
    positions = jnp.zeros((8, 2))
    for kwargs in ({}, {"thin": 5}, {"streaming": True}, {"chunk_size": 50}):
        observe = (lambda s: s.energy) if kwargs else None
        typed = statjax.run_chains(
            kernel, jax.random.key(0), positions, 100, observe=observe, **kwargs
        )
        legacy = statjax.run_chains(
            kernel, jax.random.PRNGKey(0), positions, 100, observe=observe, **kwargs
        )
        for a, b in zip(
            jax.tree_util.tree_leaves(typed), jax.tree_util.tree_leaves(legacy), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_rbg_keys_work_and_a_non_key_is_refused():
    kernel = statjax.metropolis(quadratic, 0.5)
    statjax.run_chains(kernel, jax.random.key(0, impl="rbg"), jnp.zeros((2, 2)), 3)
    with pytest.raises(TypeError, match="must be a PRNG key"):
        statjax.run_chains(kernel, 0, jnp.zeros((2, 2)), 3)


def test_float32_chains_run_under_x64():
    with jax.enable_x64(True):
        kernel = statjax.mala(quadratic, 0.2)
        final, energies = statjax.run_chains(
            kernel,
            jax.random.key(0),
            jnp.zeros((4, 2), jnp.float32),
            10,
            observe=lambda s: s.energy,
        )
        assert final.position.dtype == jnp.float32
        assert energies.dtype == jnp.float32


def test_zero_temperature_is_beta_inf_and_nan_beta_is_refused():
    kernel = statjax.metropolis(quadratic, 0.3)
    start = jnp.full((16, 2), 2.0)
    _, energies = statjax.run_chains(
        kernel, jax.random.key(0), start, 50, beta=jnp.inf, observe=lambda s: s.energy
    )
    # Greedy: the energy never rises along any chain.
    assert np.all(np.diff(np.asarray(energies), axis=0) <= 0)
    assert np.all(np.isfinite(energies))
    with pytest.raises(ValueError, match="beta must be > 0"):
        statjax.run_chains(kernel, jax.random.key(0), start, 5, beta=jnp.nan)


class Stiffness(Pytree):
    """``E(x) = k |x|^2 / 2`` with the stiffness ``k`` a leaf (one per chain below)."""

    stiffness: jax.Array

    def __call__(self, x):
        return 0.5 * self.stiffness * jnp.sum(x**2)


def test_per_chain_adaptation_gives_each_chain_its_own_step_size():
    # MALA on k |x|^2 / 2 is scale-free: its acceptance depends on eps * k alone, so
    # the adapted step sizes must make eps_c * k_c equal across a 256-fold range of k
    # (one shared step size would leave them 256-fold apart). Seed to seed, dual
    # averaging's eps scatters by about 5 % (measured over 3 seeds); 25 % is 5 sd.
    stiffness = jnp.array([0.25, 1.0, 16.0, 64.0])
    kernel = statjax.mala(Stiffness(stiffness), 0.5)
    fields = ("step_size", "energy_fn.stiffness")
    tuned, states = statjax.samplers.adapt_step_size(
        kernel, jax.random.key(0), jnp.zeros((4, 3)), 300, per_chain=fields
    )
    assert tuned.step_size.shape == (4,)
    scaled = np.asarray(tuned.step_size * stiffness)
    np.testing.assert_allclose(scaled / scaled.mean(), 1.0, rtol=0.25)
    final, _ = statjax.run_chains(tuned, jax.random.key(1), states, 10, per_chain=fields)
    assert np.all(np.isfinite(final.energy))


class WithOptionalField(Pytree):
    """A kernel-like pytree with a ``None`` field (an absent optional setting)."""

    step_size: jax.Array
    preconditioner: jax.Array | None = None


def test_per_chain_selection_skips_none_fields():
    tree = WithOptionalField(jnp.ones(3))
    assert len(per_chain_leaves(tree, ("step_size",))) == 1
    axes = kernel_axes(tree, ("step_size",))
    assert axes.step_size == 0


def test_a_reducer_without_observe_is_refused():
    kernel = statjax.metropolis(quadratic, 0.5)
    states = init_chains(kernel, jnp.zeros((2, 1)))
    last = Reducer(lambda record: record, lambda carry, record, step: record)
    with pytest.raises(ValueError, match="pass an `observe` function"):
        sample_chains(kernel, jax.random.key(0), states, 3, reducer=last)
