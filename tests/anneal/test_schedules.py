"""Temperature schedules match their formulas, run under jit and reject bad arguments."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import statjax
from statjax import anneal
from statjax.samplers.run import _run_chunk

STEPS = np.arange(0, 50)


def _values(schedule):
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(STEPS)))


def test_constant():
    np.testing.assert_allclose(_values(anneal.constant_temperature(1.5)), 1.5)


def test_linear():
    expected = 2.0 + (0.5 - 2.0) * np.minimum(STEPS, 20) / 20
    np.testing.assert_allclose(
        _values(anneal.linear_temperature(2.0, 0.5, 20)), expected, rtol=1e-6
    )


def test_geometric():
    expected = 1.0 * 0.98**STEPS
    np.testing.assert_allclose(
        _values(anneal.geometric_temperature(1.0, 0.98)), expected, rtol=1e-5
    )
    floored = _values(anneal.geometric_temperature(1.0, 0.5, min_temperature=0.01))
    np.testing.assert_allclose(floored, np.maximum(0.5**STEPS, 0.01), rtol=1e-5)


def test_logarithmic():
    expected = 3.0 / np.log(2.0 + STEPS)
    np.testing.assert_allclose(_values(anneal.logarithmic_temperature(3.0)), expected, rtol=1e-6)


def test_cosine():
    fraction = np.minimum(STEPS, 30) / 30
    expected = 0.1 + (2.0 - 0.1) * 0.5 * (1 + np.cos(np.pi * fraction))
    values = _values(anneal.cosine_temperature(2.0, 0.1, 30))
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)


def test_cyclical_warm_restarts():
    fraction = (STEPS % 12) / 12
    expected = 0.2 + (1.0 - 0.2) * 0.5 * (1 + np.cos(np.pi * fraction))
    values = _values(anneal.cyclical_temperature(1.0, 0.2, 12))
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    assert values[12] == pytest.approx(1.0) and values[24] == pytest.approx(1.0)


def test_join_with_optax():
    joined = anneal.join_schedules(
        [anneal.constant_temperature(2.0), anneal.geometric_temperature(2.0, 0.9)], [10]
    )
    values = _values(joined)
    np.testing.assert_allclose(values[:10], 2.0)
    np.testing.assert_allclose(values[10:], 2.0 * 0.9 ** (STEPS[10:] - 10), rtol=1e-5)
    # A temperature schedule is an ordinary optax learning-rate schedule too.
    optimizer = optax.sgd(anneal.geometric_temperature(0.1, 0.5))
    updates, _ = optimizer.update(jnp.ones(2), optimizer.init(jnp.zeros(2)))
    np.testing.assert_allclose(updates, -0.1)


def test_temperature_beta_conversions():
    assert float(anneal.temperature_to_beta(4.0)) == 0.25
    np.testing.assert_allclose(anneal.beta_to_temperature(jnp.array([0.5, 2.0])), [2.0, 0.5])
    beta_schedule = anneal.temperature_to_beta(anneal.geometric_temperature(2.0, 0.5))
    np.testing.assert_allclose(_values(beta_schedule), 0.5 * 2.0**STEPS, rtol=1e-5)
    roundtrip = anneal.beta_to_temperature(beta_schedule)
    np.testing.assert_allclose(_values(roundtrip), 2.0 * 0.5**STEPS, rtol=1e-5)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: anneal.constant_temperature(0.0), "temperature"),
        (lambda: anneal.linear_temperature(1.0, -1.0, 10), "final_temperature"),
        (lambda: anneal.geometric_temperature(1.0, 0.0), "alpha"),
        (lambda: anneal.geometric_temperature(1.0, 1.5), "alpha"),
        (lambda: anneal.geometric_temperature(-1.0, 0.9), "initial_temperature"),
        (lambda: anneal.logarithmic_temperature(math.inf), "initial_temperature"),
        (lambda: anneal.cosine_temperature(1.0, 0.1, 0), "num_steps"),
        (lambda: anneal.cyclical_temperature(1.0, 0.0, 10), "min_temperature"),
        (lambda: anneal.temperature_to_beta(-1.0), "temperature"),
        (lambda: anneal.temperature_to_beta(math.nan), "temperature"),
        (lambda: anneal.beta_to_temperature(0.0), "beta"),
        (lambda: anneal.beta_to_temperature(jnp.array([1.0, -2.0])), "beta"),
    ],
)
def test_bad_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_alpha_one_is_constant():
    np.testing.assert_allclose(_values(anneal.geometric_temperature(0.7, 1.0)), 0.7)


def test_zero_temperature_is_infinite_beta():
    assert float(anneal.temperature_to_beta(0.0)) == math.inf
    np.testing.assert_array_equal(anneal.temperature_to_beta(np.array([0.0, 2.0])), [np.inf, 0.5])
    assert float(anneal.beta_to_temperature(math.inf)) == 0.0
    # A schedule that reaches T = 0 gives beta = inf there, not NaN.
    to_zero = anneal.temperature_to_beta(lambda step: jnp.maximum(1.0 - step, 0.0))
    np.testing.assert_array_equal(np.asarray(to_zero(jnp.arange(4))), [1.0, np.inf, np.inf, np.inf])


def test_schedules_are_pytrees_with_numbers_as_leaves():
    schedule = anneal.geometric_temperature(2.0, 0.9, min_temperature=0.1)
    assert len(jax.tree_util.tree_leaves(schedule)) == 3
    beta = anneal.temperature_to_beta(schedule)
    assert jax.tree_util.tree_leaves(beta) == jax.tree_util.tree_leaves(schedule)
    # A traced schedule argument gives the same numbers as the schedule called eagerly.
    values = jax.jit(lambda s, k: jax.vmap(s)(k))(schedule, jnp.asarray(STEPS))
    np.testing.assert_allclose(values, _values(schedule), rtol=1e-6)


def _quadratic(x):
    return 0.5 * jnp.sum(x**2)


KERNEL = statjax.samplers.metropolis(_quadratic, 0.5)

SCHEDULE_PAIRS = {
    "constant": (
        lambda: anneal.constant_temperature(1.0),
        lambda: anneal.constant_temperature(3.0),
    ),
    "linear": (
        lambda: anneal.linear_temperature(2.0, 0.5, 10),
        lambda: anneal.linear_temperature(3.0, 0.1, 20),
    ),
    "geometric": (
        lambda: anneal.geometric_temperature(2.0, 0.9),
        lambda: anneal.geometric_temperature(5.0, 0.99, min_temperature=0.2),
    ),
    "logarithmic": (
        lambda: anneal.logarithmic_temperature(1.0),
        lambda: anneal.logarithmic_temperature(4.0),
    ),
    "cosine": (
        lambda: anneal.cosine_temperature(2.0, 0.5, 10),
        lambda: anneal.cosine_temperature(1.0, 0.2, 30),
    ),
    "cyclical": (
        lambda: anneal.cyclical_temperature(2.0, 0.5, 4),
        lambda: anneal.cyclical_temperature(3.0, 1.0, 7),
    ),
    "joined": (
        lambda: anneal.join_schedules(
            [anneal.constant_temperature(2.0), anneal.geometric_temperature(2.0, 0.9)], [3]
        ),
        lambda: anneal.join_schedules(
            [anneal.constant_temperature(4.0), anneal.geometric_temperature(4.0, 0.5)], [5]
        ),
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULE_PAIRS))
def test_new_schedule_with_new_numbers_reuses_the_program(name):
    """Two schedules of one class, built apart with other numbers: one compiled program."""
    _run_chunk.clear_cache()
    for build in SCHEDULE_PAIRS[name]:
        beta = anneal.temperature_to_beta(build())
        statjax.run_chains(KERNEL, jax.random.key(0), jnp.zeros((2, 2)), 4, beta=beta)
    assert _run_chunk._cache_size() == 1


def test_three_new_geometric_schedules_compile_one_program():
    """The issue's measurement: three schedules built anew compiled three programs, now one."""
    _run_chunk.clear_cache()
    for initial_temperature in (1.0, 2.0, 3.0):
        beta = anneal.temperature_to_beta(anneal.geometric_temperature(initial_temperature, 0.99))
        statjax.run_chains(KERNEL, jax.random.key(0), jnp.zeros((4, 2)), 20, beta=beta)
    assert _run_chunk._cache_size() == 1
    # A beta schedule passed as it is (no reciprocal) is another structure: one more program.
    statjax.run_chains(
        KERNEL, jax.random.key(0), jnp.zeros((4, 2)), 20, beta=anneal.constant_temperature(2.0)
    )
    assert _run_chunk._cache_size() == 2
