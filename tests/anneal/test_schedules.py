"""Temperature schedules match their formulas, run under jit and reject bad arguments."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from statjax import anneal

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
        (lambda: anneal.temperature_to_beta(0.0), "temperature"),
        (lambda: anneal.beta_to_temperature(jnp.array([1.0, -2.0])), "beta"),
    ],
)
def test_bad_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_alpha_one_is_constant():
    np.testing.assert_allclose(_values(anneal.geometric_temperature(0.7, 1.0)), 0.7)
