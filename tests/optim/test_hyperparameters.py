"""Tunable optimizers: numbers as leaves, one compiled program, optax's numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from statjax import optim
from statjax.pytree import Pytree

CURVATURE = jnp.array([1.0, 4.0, 0.5])
START = jnp.array([1.0, -2.0, 3.0])
LEARNING_RATES = (0.1, 0.05, 0.01)


def loss(params):
    return 0.5 * jnp.sum(CURVATURE * params**2) + jnp.sum(jnp.sin(params))


def train(optimizer, params, num_steps=10):
    """``num_steps`` steps of ``optimizer`` on ``loss``; every update, stacked."""
    state = optimizer.init(params)

    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(jax.grad(loss)(params), state, params)
        return (optax.apply_updates(params, updates), state), updates

    _, updates = jax.lax.scan(step, (params, state), None, length=num_steps)
    return updates


def counting_jit(function, **jit_kwargs):
    """``jax.jit(function)`` and a list that grows by one per trace (one per compiled program)."""
    traces = []

    def traced(*args, **kwargs):
        traces.append(None)
        return function(*args, **kwargs)

    return jax.jit(traced, **jit_kwargs), traces


def test_a_jitted_loop_compiles_once_for_three_learning_rates():
    jitted, traces = counting_jit(train)
    for learning_rate in LEARNING_RATES:
        jitted(optim.tunable(optax.adam, learning_rate=learning_rate, b1=0.0), START)
    assert len(traces) == 1
    # The plain optax optimizer, a static argument, compiles one program per object.
    static, static_traces = counting_jit(train, static_argnums=0)
    for learning_rate in LEARNING_RATES:
        static(optax.adam(learning_rate, b1=0.0), START)
    assert len(static_traces) == 3


FLOAT32_EPS = float(np.finfo(np.float32).eps)


@pytest.mark.parametrize(
    "factory, arguments, rtol",
    [
        (optax.sgd, {"learning_rate": 0.1}, 1e-6),
        (optax.sgd, {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, 1e-6),
        # Adam: optax with Python floats forms 1 - b2 in float64 for the moment and in
        # float32 for the bias correction; with float32 leaves both are float32. They
        # differ by up to eps32 / (1 - b2) relative (6.9e-6 measured at b2 = 0.999).
        (optax.adam, {"learning_rate": 0.05, "b1": 0.0}, FLOAT32_EPS / (1 - 0.999)),
        (optax.adam, {"learning_rate": 0.05, "b1": 0.9, "b2": 0.99}, FLOAT32_EPS / (1 - 0.99)),
    ],
    ids=["sgd", "sgd-nesterov", "adam-b1=0", "adam"],
)
def test_the_same_updates_as_the_plain_optax_optimizer(factory, arguments, rtol):
    """Float32 numbers as leaves against Python floats: agreement to float32 rounding."""
    expected = train(factory(**arguments), START)
    tunable = optim.tunable(factory, **arguments)
    for updates in (train(tunable, START), jax.jit(train)(tunable, START)):
        np.testing.assert_allclose(updates, expected, rtol=rtol, atol=1e-7)


def test_works_inside_optax_chain_built_in_the_jitted_function():
    def chained(optimizer, params):
        return train(optax.chain(optax.clip_by_global_norm(1.0), optimizer), params)

    jitted, traces = counting_jit(chained)
    for learning_rate in LEARNING_RATES:
        updates = jitted(optim.tunable(optax.sgd, learning_rate=learning_rate), START)
        expected = chained(optax.sgd(learning_rate), START)
        np.testing.assert_allclose(updates, expected, rtol=1e-6, atol=1e-7)
    assert len(traces) == 1


def test_sgmcmc_transforms_are_tunable_with_their_noise():
    """sgld through tunable: the numbers of ``optim.sgld`` itself, one program for a sweep."""
    jitted, traces = counting_jit(train)
    for learning_rate, temperature in ((0.1, 1.0), (0.05, 0.5), (0.01, 0.0)):
        tunable = optim.tunable(
            optim.sgld, learning_rate=learning_rate, temperature=temperature, seed=3
        )
        expected = train(optim.sgld(learning_rate, temperature, seed=3), START)
        np.testing.assert_allclose(jitted(tunable, START), expected, rtol=1e-6, atol=1e-7)
    assert len(traces) == 1


def test_integer_settings_are_static_and_seed_arrays_are_leaves():
    """A Python int (a count, a seed) is static; an integer or key array sweeps seeds."""
    tunable = optim.tunable(optim.sghmc, learning_rate=0.05, seed=3)
    assert "seed" not in tunable.hyperparameters
    jitted, traces = counting_jit(train)
    for seed in (3, 4):
        for as_array in (jnp.int32, jax.random.key):
            tunable = optim.tunable(optim.sghmc, learning_rate=0.05, seed=as_array(seed))
            np.testing.assert_allclose(
                jitted(tunable, START),
                train(optim.sghmc(0.05, seed=seed), START),
                rtol=1e-6,
                atol=1e-7,
            )
    assert len(traces) == 2  # one program for integer seeds, one for keys


def test_extra_arguments_reach_the_transform():
    """Entropy-SGD's ``grad_fn`` passes through; ``num_inner_steps`` (an int) stays static."""
    arguments = {"learning_rate": 0.1, "gamma": 0.5, "num_inner_steps": 4, "momentum": None}
    plain = optim.entropy_sgd(**arguments)
    tunable = optim.tunable(optim.entropy_sgd, **arguments)
    grads = jax.grad(loss)(START)
    expected, _ = plain.update(grads, plain.init(START), START, grad_fn=jax.grad(loss))
    updates, _ = jax.jit(
        lambda opt: opt.update(grads, opt.init(START), START, grad_fn=jax.grad(loss))
    )(tunable)
    np.testing.assert_allclose(updates, expected, rtol=1e-6, atol=1e-7)


class HalvingSchedule(Pytree):
    """``initial / 2^(step / half_life)``: a schedule whose numbers are leaves."""

    initial: jax.Array
    half_life: jax.Array

    def __call__(self, step):
        return self.initial * 0.5 ** (jnp.asarray(step, jnp.float32) / self.half_life)


def test_a_pytree_schedule_is_traced():
    jitted, traces = counting_jit(train)
    for initial in (0.1, 0.2):
        schedule = HalvingSchedule(jnp.float32(initial), jnp.float32(3.0))
        expected = train(optax.sgd(schedule), START)
        updates = jitted(optim.tunable(optax.sgd, learning_rate=schedule), START)
        np.testing.assert_allclose(updates, expected, rtol=1e-6, atol=1e-7)
    assert len(traces) == 1


def test_split_optimizer():
    tunable = optim.tunable(optax.sgd, learning_rate=0.1)
    plain = optax.sgd(0.1)
    assert optim.split_optimizer(tunable) == (tunable, None)
    assert optim.split_optimizer(plain) == (None, plain)


def test_an_unhashable_setting_is_refused():
    with pytest.raises(TypeError, match="mask"):
        optim.tunable(optax.adamw, learning_rate=0.1, mask={"a": True})
