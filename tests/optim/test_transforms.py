"""SG-MCMC transforms as optax citizens: zero-temperature limits, noise, chaining, schedules."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from statjax import anneal, optim

PARAMS = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
GRADS = {"w": jnp.full((3, 2), 0.5), "b": jnp.array([1.0, -2.0])}


def run(optimizer, num_steps=5, params=PARAMS):
    state = optimizer.init(params)
    for _ in range(num_steps):
        grads = jax.tree.map(lambda p, g: g + 0.1 * p, params, GRADS)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.parametrize(
    "sampler, optimizer",
    [
        (optim.sgld(0.1, temperature=0.0), optax.sgd(0.1)),
        (optim.sghmc(0.1, friction=0.2, temperature=0.0), optax.sgd(0.1, momentum=0.8)),
        (
            optim.psgld(0.01, temperature=0.0, decay=0.9, epsilon=1e-5),
            optax.rmsprop(0.01, 0.9, 1e-5),
        ),
    ],
)
def test_zero_temperature_is_the_deterministic_optimizer(sampler, optimizer):
    """At T = 0: SGLD is SGD, SGHMC is SGD with momentum 1 - alpha, pSGLD is RMSprop."""
    chex.assert_trees_all_close(run(sampler), run(optimizer), rtol=1e-5, atol=1e-6)


def noise_of(optimizer, deterministic_update, num_params=20_000):
    """The noise part of one update, from a zero gradient, divided by its expected scale."""
    params = jnp.zeros(num_params)
    updates, _ = optimizer.update(jnp.zeros(num_params), optimizer.init(params), params)
    return np.asarray(updates - deterministic_update, np.float64)


@pytest.mark.parametrize(
    "optimizer, noise_std",
    [
        (optim.sgld(0.01, temperature=2.0, seed=1), np.sqrt(2 * 0.01 * 2.0)),
        (optim.sghmc(0.01, friction=0.1, temperature=2.0, seed=1), np.sqrt(2 * 0.1 * 0.01 * 2.0)),
        (
            optim.sghmc(0.01, 0.1, 2.0, gradient_noise_variance=10.0, seed=1),
            np.sqrt(2 * 0.01 * (0.1 * 2.0 - 0.01 * 10.0 / 2)),
        ),
        (optim.sgnht(0.01, diffusion=0.3, temperature=2.0, seed=1), np.sqrt(2 * 0.3 * 0.01 * 2.0)),
        # pSGLD at V = 0 (first step, zero gradient): G = 1 / epsilon.
        (optim.psgld(1e-6, temperature=0.5, epsilon=1e-3, seed=1), np.sqrt(2 * 1e-6 * 0.5 / 1e-3)),
    ],
)
def test_injected_noise_has_the_documented_variance(optimizer, noise_std):
    """Noise / scale is N(0, 1): mean and variance within 5 standard errors (n = 20000)."""
    z = noise_of(optimizer, 0.0) / noise_std
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)


def test_seed_and_key_give_reproducible_independent_streams():
    same = [noise_of(optim.sgld(0.1, seed=jax.random.key(7)), 0.0, 10) for _ in range(2)]
    np.testing.assert_array_equal(*same)
    other = noise_of(optim.sgld(0.1, seed=8), 0.0, 10)
    assert not np.allclose(same[0], other)
    legacy = noise_of(optim.sgld(0.1, seed=jax.random.PRNGKey(7)), 0.0, 10)
    assert np.all(np.isfinite(legacy))


def test_noise_changes_every_step_and_counts_steps():
    optimizer = optim.sgld(0.1, seed=0)
    state = optimizer.init(jnp.zeros(4))
    first, state = optimizer.update(jnp.zeros(4), state)
    second, state = optimizer.update(jnp.zeros(4), state)
    assert not np.allclose(first, second)
    assert int(state.count) == 2


def test_schedules_for_learning_rate_and_temperature():
    """A temperature schedule drives the noise: at T_k = 0 the step is pure SGD."""
    temperature = anneal.join_schedules(
        [anneal.constant_temperature(1.0), lambda step: jnp.zeros_like(step, jnp.float32)], [3]
    )
    optimizer = optim.sgld(optax.linear_schedule(0.1, 0.05, 10), temperature, seed=0)
    state = optimizer.init(jnp.zeros(3))
    updates = []
    for _ in range(5):
        update, state = optimizer.update(jnp.ones(3), state)
        updates.append(update)
    assert not np.allclose(updates[0], -0.1)  # noisy while T = 1
    np.testing.assert_allclose(updates[3], -(0.1 - 0.005 * 3), rtol=1e-5)  # T = 0 from step 3
    np.testing.assert_allclose(updates[4], -(0.1 - 0.005 * 4), rtol=1e-5)


@pytest.mark.parametrize(
    "factory", [optim.sgld, optim.psgld, optim.sghmc, optim.sgnht], ids=lambda f: f.__name__
)
def test_chains_with_optax_and_jits(factory):
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), factory(1e-3, seed=0))
    state = optimizer.init(PARAMS)

    @jax.jit
    def step(params, state):
        updates, state = optimizer.update(GRADS, state, params)
        return optax.apply_updates(params, updates), state

    params, state = step(PARAMS, state)
    params, state = step(params, state)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(params))


def test_inject_hyperparams_sweeps_without_recompiling():
    """Under optax.inject_hyperparams, learning rate and temperature are state, not constants."""
    optimizer = optax.inject_hyperparams(optim.sghmc)(
        learning_rate=0.01, friction=0.1, temperature=1.0, seed=0
    )

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state):
        updates, state = optimizer.update(jnp.ones_like(params), state, params)
        return optax.apply_updates(params, updates), state

    params, state = jnp.zeros(3), optimizer.init(jnp.zeros(3))
    for temperature in (1.0, 0.5, 0.0):
        state.hyperparams["temperature"] = jnp.float32(temperature)
        params, state = step(params, state)
    state.hyperparams["temperature"] = jnp.float32(0.0)
    state.hyperparams["learning_rate"] = jnp.float32(0.02)
    before = state.inner_state.momentum
    params, state = step(params, state)
    np.testing.assert_allclose(state.inner_state.momentum, 0.9 * before - 0.02, rtol=1e-6)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: optim.sgld(0.0), "learning_rate"),
        (lambda: optim.sgld(0.1, temperature=-1.0), "temperature"),
        (lambda: optim.psgld(0.1, decay=1.0), "decay"),
        (lambda: optim.sghmc(0.1, friction=0.0), "friction"),
        (lambda: optim.sghmc(0.1, friction=1.5), "friction"),
        (lambda: optim.sgnht(0.1, diffusion=-0.1), "diffusion"),
        (lambda: optim.sgnht(0.1, temperature=0.0), "temperature"),
    ],
)
def test_bad_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


SAMPLERS = {
    "sgld": lambda seed=1: optim.sgld(0.05, temperature=1.0, seed=seed),
    "sghmc": lambda seed=1: optim.sghmc(0.05, friction=0.2, seed=seed),
    "psgld": lambda seed=1: optim.psgld(0.01, decay=0.9, seed=seed),
    "sgnht": lambda seed=1: optim.sgnht(0.05, diffusion=0.2, seed=seed),
    "sgnht_midpoint": lambda seed=1: optim.sgnht(
        0.05, diffusion=0.2, seed=seed, midpoint_kinetic_energy=True
    ),
    "cyclical_sgld": lambda seed=1: optim.cyclical_sgld(
        0.05, num_steps=12, num_cycles=2, exploration_fraction=0.5, seed=seed
    ),
}


def energy_gradient(params):
    return jax.tree.map(lambda p, g: g + 0.1 * p, params, GRADS)


def comparable(tree):
    """Typed keys as their bits, so that trees with keys compare with ``==``."""
    is_key = lambda x: jax.dtypes.issubdtype(jnp.result_type(x), jax.dtypes.prng_key)
    return jax.tree.map(lambda x: jax.random.key_data(x) if is_key(x) else x, tree)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "+inf", "-inf"])
@pytest.mark.parametrize("name", SAMPLERS)
def test_a_nonfinite_gradient_is_refused_and_the_chain_continues(name, bad):
    """One bad gradient entry at step 5: zero update, state kept but for the counts, chain goes on.

    The reference chain skips step 5 (no update; only the step count and the
    refusal counter move) and must agree exactly with the chain that met it.
    """
    optimizer = SAMPLERS[name]()
    update = jax.jit(optimizer.update)
    params = reference_params = PARAMS
    state = reference_state = optimizer.init(PARAMS)
    for step in range(12):
        grads = energy_gradient(params)
        if step == 5:
            grads = {**grads, "w": grads["w"].at[1, 0].set(bad)}
            before = state
            updates, state = update(grads, state, params)
            assert all(np.all(np.asarray(u) == 0) for u in jax.tree.leaves(updates))
            unchanged = state._replace(count=before.count, num_refused=before.num_refused)
            chex.assert_trees_all_equal(comparable(unchanged), comparable(before))
            reference_state = reference_state._replace(
                count=reference_state.count + 1, num_refused=reference_state.num_refused + 1
            )
        else:
            updates, state = update(grads, state, params)
            reference_updates, reference_state = update(
                energy_gradient(reference_params), reference_state, reference_params
            )
            reference_params = optax.apply_updates(reference_params, reference_updates)
            if step > 5:
                assert any(np.any(np.asarray(u) != 0) for u in jax.tree.leaves(updates))
        params = optax.apply_updates(params, updates)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves((params, state.count)))
    chex.assert_trees_all_equal(params, reference_params)
    chex.assert_trees_all_equal(comparable(state), comparable(reference_state))
    assert (int(state.count), int(state.num_refused)) == (12, 1)


@pytest.mark.parametrize("name", ["sgld", "sghmc", "psgld", "sgnht"])
def test_refusal_is_per_chain_under_vmap(name):
    """A NaN in one chain's gradient leaves the other chains' updates as they would be."""
    optimizer = SAMPLERS[name]()
    keys = jax.random.split(jax.random.key(0), 3)
    states = jax.vmap(lambda k, p: SAMPLERS[name](k).init(p))(keys, jnp.zeros((3, 4)))
    grads = jnp.arange(12.0).reshape(3, 4)
    clean, _ = jax.vmap(optimizer.update)(grads, states)
    updates, states = jax.vmap(optimizer.update)(grads.at[1, 2].set(np.nan), states)
    np.testing.assert_array_equal(updates[1], 0.0)
    np.testing.assert_array_equal(updates[::2], clean[::2])
    np.testing.assert_array_equal(states.num_refused, [0, 1, 0])


@pytest.mark.parametrize("name", SAMPLERS)
def test_integer_seed_legacy_and_typed_keys_give_the_same_numbers(name):
    """``seed=7``, ``jax.random.PRNGKey(7)`` and ``jax.random.key(7)``: one stream."""
    factory = SAMPLERS[name]
    if name == "cyclical_sgld":  # sampling from the first step, so that there is noise
        factory = lambda seed: optim.cyclical_sgld(0.05, 12, 2, exploration_fraction=0.0, seed=seed)
    streams = [
        noise_of(factory(seed), 0.0, 10) for seed in (7, jax.random.PRNGKey(7), jax.random.key(7))
    ]
    np.testing.assert_array_equal(streams[0], streams[1])
    np.testing.assert_array_equal(streams[0], streams[2])
    rbg = noise_of(factory(jax.random.key(7, impl="rbg")), 0.0, 10)
    assert np.all(np.isfinite(rbg)) and not np.array_equal(rbg, streams[0])


def test_vmapped_legacy_and_typed_keys_give_the_same_chains():
    def first_updates(keys):
        states = jax.vmap(lambda k, p: optim.sgld(0.1, seed=k).init(p))(keys, jnp.zeros((4, 3)))
        return jax.vmap(optim.sgld(0.1).update)(jnp.ones((4, 3)), states)[0]

    legacy = first_updates(jax.random.split(jax.random.PRNGKey(3), 4))
    typed = first_updates(jax.random.split(jax.random.key(3), 4))
    np.testing.assert_array_equal(legacy, typed)


def test_a_seed_that_is_not_a_key_is_refused():
    with pytest.raises(TypeError, match="seed"):
        optim.sgld(0.1, seed=jnp.zeros(3))
