"""Cyclical SG-MCMC schedules (Zhang et al. 2020): eq. (1) and the exploration/sampling stages."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statjax import optim


def test_step_size_matches_equation_one():
    init_step_size, num_steps, num_cycles = 0.5, 103, 4
    cycle = math.ceil(num_steps / num_cycles)
    k = np.arange(1, num_steps + 1)  # the paper's 1-based iteration
    expected = init_step_size / 2 * (np.cos(np.pi * np.mod(k - 1, cycle) / cycle) + 1)
    schedule = optim.cyclical_step_size(init_step_size, num_steps, num_cycles)
    values = jax.jit(jax.vmap(schedule))(jnp.arange(num_steps))
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-7)


def test_phases_and_temperature():
    num_steps, num_cycles, beta = 100, 4, 0.8
    steps = jnp.arange(num_steps)
    sampling = np.asarray(optim.is_sampling_phase(steps, num_steps, num_cycles, beta))
    expected = np.mod(np.arange(num_steps), 25) / 25 >= beta
    np.testing.assert_array_equal(sampling, expected)
    assert sampling.sum() == 4 * 5  # the last 5 steps of each 25-step cycle
    temperature = optim.cyclical_temperature(2.0, num_steps, num_cycles, beta)
    np.testing.assert_allclose(jax.vmap(temperature)(steps), np.where(expected, 2.0, 0.0))


def test_cyclical_sgld_is_sgd_while_exploring_and_noisy_while_sampling():
    optimizer = optim.cyclical_sgld(0.1, num_steps=10, num_cycles=2, exploration_fraction=0.6)
    state = optimizer.init(jnp.zeros(4))
    schedule = optim.cyclical_step_size(0.1, 10, 2)
    for step in range(10):
        updates, state = optimizer.update(jnp.ones(4), state)
        deterministic = np.allclose(updates, -schedule(step), rtol=1e-6)
        assert deterministic == (step % 5 < 3), step


@pytest.mark.parametrize(
    "build",
    [
        lambda: optim.cyclical_step_size(0.1, 10, 0),
        lambda: optim.cyclical_step_size(0.1, 10, 11),
        lambda: optim.cyclical_temperature(1.0, 10, 2, 1.0),
        lambda: optim.cyclical_sgld(-0.1, 10, 2),
    ],
)
def test_bad_arguments_raise(build):
    with pytest.raises(ValueError):
        build()


def test_new_schedules_with_new_numbers_reuse_the_compiled_program():
    """The schedules are pytrees: step size, temperature and lengths are leaves."""
    traces = []

    @jax.jit
    def values(step_size, temperature):
        traces.append(None)
        steps = jnp.arange(40)
        return jax.vmap(step_size)(steps), jax.vmap(temperature)(steps)

    for init_step_size, num_steps, temperature in ((0.1, 40, 1.0), (0.3, 36, 2.0), (0.2, 17, 0.5)):
        got = values(
            optim.cyclical_step_size(init_step_size, num_steps, 4),
            optim.cyclical_temperature(temperature, num_steps, 4, 0.75),
        )
        cycle = math.ceil(num_steps / 4)
        k = np.arange(40)
        expected_step_size = init_step_size / 2 * (np.cos(np.pi * np.mod(k, cycle) / cycle) + 1)
        sampling = np.mod(k, cycle) >= math.ceil(0.75 * cycle)
        np.testing.assert_allclose(got[0], expected_step_size, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(got[1], np.where(sampling, temperature, 0.0))
    assert len(traces) == 1


def test_tunable_cyclical_sgld_compiles_once():
    traces = []

    @jax.jit
    def first_updates(optimizer):
        traces.append(None)
        state = optimizer.init(jnp.zeros(3))
        return optimizer.update(jnp.ones(3), state)[0]

    for init_step_size in (0.1, 0.2, 0.3):
        tunable = optim.tunable(
            optim.sgld,
            learning_rate=optim.cyclical_step_size(init_step_size, 100, 4),
            temperature=optim.cyclical_temperature(1.0, 100, 4, 0.8),
        )
        np.testing.assert_allclose(first_updates(tunable), -init_step_size, rtol=1e-6)
    assert len(traces) == 1
