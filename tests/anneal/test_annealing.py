"""Simulated annealing: Rastrigin's global minimum, pytrees, restarts, recompiles, errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.anneal.annealing import _anneal, kernel_annealing, simulated_annealing
from statjax.anneal.schedules import geometric_temperature, temperature_to_beta
from statjax.energy import Rastrigin
from statjax.samplers.run import _init_states


def test_finds_rastrigins_global_minimum_from_random_starts():
    rastrigin = Rastrigin(dim=2)
    starts = jax.random.uniform(jax.random.key(0), (64, 2), minval=-5.0, maxval=5.0)
    schedule = geometric_temperature(10.0, 0.998, min_temperature=1e-3)
    result = simulated_annealing(
        rastrigin, jax.random.key(1), starts, 4000, temperature=schedule, step_size=0.5
    )
    # The next-lowest minima, next to the origin, have E ~ 1: below 0.5 is the global basin.
    in_global_basin = np.asarray(result.best_energy) < 0.5
    assert in_global_basin.mean() > 0.8  # measured 0.98
    best = int(jnp.argmin(result.best_energy))
    assert float(result.best_energy[best]) < 0.01
    np.testing.assert_allclose(result.best_position[best], rastrigin.minimum(), atol=0.01)


def test_pytree_parameters_with_a_scale_per_leaf_and_best_so_far():
    def loss(params):
        return jnp.sum((params["w"] - 2.0) ** 2) + 100.0 * (params["b"] + 0.1) ** 2

    initial = {"w": jnp.zeros((4, 3)), "b": jnp.zeros(4)}
    result = simulated_annealing(
        loss,
        jax.random.key(2),
        initial,
        1000,
        temperature=geometric_temperature(1.0, 0.99),
        step_size={"w": 0.2, "b": 0.02},
        record_every=100,
    )
    assert result.best_position["w"].shape == (4, 3)
    assert result.energy_trace.shape == (10, 4)
    assert bool(jnp.all(result.best_energy <= result.energy + 1e-6))
    assert bool(jnp.all(result.best_energy < 0.05))
    np.testing.assert_allclose(result.best_position["b"], -0.1, atol=0.03)
    assert bool(jnp.all((result.acceptance_rate > 0) & (result.acceptance_rate < 1)))


def test_n_steps_equal_two_halves_and_no_recompiles():
    energy = Rastrigin(dim=2)
    starts = jnp.ones((3, 2))
    schedule = geometric_temperature(5.0, 0.99)
    _anneal.clear_cache()
    whole = simulated_annealing(energy, jax.random.key(3), starts, 40, temperature=schedule)
    half = simulated_annealing(energy, jax.random.key(3), starts, 20, temperature=schedule)
    half = simulated_annealing(
        energy, jax.random.key(3), half.position, 20, temperature=schedule, start_step=20
    )
    np.testing.assert_array_equal(whole.position, half.position)
    assert _anneal._cache_size() == 2  # 40 and 20 steps
    # new energy parameters, step sizes and schedule parameters reuse the program
    simulated_annealing(
        Rastrigin(dim=2, amplitude=3.0),
        jax.random.key(4),
        starts,
        20,
        temperature=geometric_temperature(2.0, 0.95),
        step_size=0.7,
    )
    assert _anneal._cache_size() == 2


def test_nan_and_infinite_energies_are_rejected():
    def energy(x):
        return jnp.where(x[0] > 0.5, jnp.nan, jnp.where(x[0] < -0.5, jnp.inf, x[0] ** 2))

    result = simulated_annealing(
        energy, jax.random.key(5), jnp.zeros((8, 1)), 200, temperature=10.0, step_size=1.0
    )
    assert bool(jnp.all(jnp.isfinite(result.energy)))
    assert bool(jnp.all(jnp.abs(result.position) <= 0.5))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -1.0}, "finite and >= 0"),
        ({"temperature": lambda step: 1.0 - step}, "finite and >= 0"),
        ({"num_steps": 0}, "num_steps"),
        ({"record_every": 3}, "multiple of record_every"),
        ({"step_size": -0.1}, "step_size"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    arguments = {"temperature": 1.0, "num_steps": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        simulated_annealing(
            lambda x: jnp.sum(x**2),
            jax.random.key(0),
            jnp.zeros((2, 2)),
            arguments.pop("num_steps"),
            **arguments,
        )


def test_initial_without_restart_axis_raises():
    with pytest.raises(ValueError, match="leading chain axis"):
        simulated_annealing(lambda x: x**2, jax.random.key(0), jnp.zeros(()), 10, temperature=1.0)


def test_kernel_annealing_matches_run_chains_and_tracks_the_best_state():
    energy = Rastrigin(dim=2)
    kernel = statjax.samplers.mala(energy, 0.01)
    starts = jax.random.uniform(jax.random.key(6), (16, 2), minval=-3.0, maxval=3.0)
    schedule = geometric_temperature(20.0, 0.99, min_temperature=0.05)
    result, states = kernel_annealing(
        kernel, jax.random.key(7), starts, 300, temperature=schedule, record_every=50
    )
    np.testing.assert_array_equal(states.position, result.position)
    # Same keys and temperatures as run_chains. (With MALA, ulp-level differences between
    # the two compiled programs grow along Rastrigin's steep gradients: compare Metropolis.)
    walker = statjax.samplers.metropolis(energy, 0.1)
    _, annealed = kernel_annealing(walker, jax.random.key(7), starts, 200, temperature=schedule)
    final, _ = statjax.run_chains(
        walker, jax.random.key(7), starts, 200, beta=temperature_to_beta(schedule)
    )
    np.testing.assert_array_equal(annealed.position, final.position)
    assert result.energy_trace.shape == (6, 16)
    assert bool(jnp.all(result.best_energy <= result.energy))
    np.testing.assert_allclose(
        jax.vmap(energy)(result.best_position), result.best_energy, rtol=1e-4, atol=1e-4
    )
    assert bool(jnp.all((result.acceptance_rate > 0) & (result.acceptance_rate <= 1)))


def test_kernel_annealing_needs_a_non_negative_temperature():
    kernel = statjax.samplers.mala(lambda x: jnp.sum(x**2), 0.1)
    with pytest.raises(ValueError, match=">= 0"):
        kernel_annealing(kernel, jax.random.key(0), jnp.zeros((2, 2)), 10, temperature=-1.0)
    with pytest.raises(ValueError, match="steps"):
        kernel_annealing(
            kernel, jax.random.key(0), jnp.zeros((2, 2)), 10, temperature=lambda k: 5.0 - k
        )


def test_kernel_annealing_from_positions_compiles_once():
    """A fresh kernel instance and plain spin arrays reuse the compiled programs."""
    spins = jnp.ones((4, 8, 8), jnp.int8)
    _anneal.clear_cache()
    _init_states.clear_cache()
    for seed, coupling in enumerate((1.0, 0.5, 2.0)):
        kernel = statjax.samplers.checkerboard(statjax.energy.square_ising(8, coupling=coupling))
        # A schedule built anew each time, with new numbers: still one program.
        schedule = statjax.anneal.geometric_temperature(3.0 + seed, 0.9)
        statjax.anneal.kernel_annealing(
            kernel, jax.random.key(seed), spins, 20, temperature=schedule
        )
    assert _anneal._cache_size() == 1
    assert _init_states._cache_size() == 1


def test_a_non_finite_start_raises_naming_the_restarts():
    def energy(x):
        return jnp.where(x[0] > 0.5, jnp.nan, jnp.sum(x**2))

    starts = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"not finite for chains \[1, 3\]"):
        simulated_annealing(energy, jax.random.key(0), starts, 10, temperature=1.0)
    kernel = statjax.samplers.mala(lambda x: jnp.sum(jnp.log(x)), 0.1)
    with pytest.raises(ValueError, match="not finite"):
        kernel_annealing(kernel, jax.random.key(0), -jnp.ones((2, 2)), 10, temperature=1.0)


def test_counts_must_be_whole_numbers():
    for name, value in (("num_steps", 2.5), ("record_every", 1.5), ("start_step", -1)):
        arguments = {"num_steps": 10, "temperature": 1.0} | {name: value}
        with pytest.raises(ValueError, match=name):
            simulated_annealing(
                lambda x: jnp.sum(x**2),
                jax.random.key(0),
                jnp.zeros((2, 2)),
                arguments.pop("num_steps"),
                **arguments,
            )


def test_legacy_and_typed_keys_give_the_same_run():
    energy = Rastrigin(dim=2)
    typed = simulated_annealing(energy, jax.random.key(8), jnp.ones((4, 2)), 30, temperature=1.0)
    legacy = simulated_annealing(
        energy, jax.random.PRNGKey(8), jnp.ones((4, 2)), 30, temperature=1.0
    )
    np.testing.assert_array_equal(typed.position, legacy.position)
    np.testing.assert_array_equal(typed.best_energy, legacy.best_energy)


def test_zero_temperature_is_a_greedy_descent():
    """``T = 0`` is ``beta = inf``: with Metropolis, only strictly lower energies pass."""
    energy = Rastrigin(dim=2)
    starts = jax.random.uniform(jax.random.key(9), (16, 2), minval=-3.0, maxval=3.0)
    result = simulated_annealing(
        energy, jax.random.key(10), starts, 200, temperature=0.0, step_size=0.2, record_every=1
    )
    trace = np.asarray(result.energy_trace)
    assert np.all(np.isfinite(trace)) and np.all(np.diff(trace, axis=0) <= 0)
    np.testing.assert_array_equal(result.best_energy, result.energy)
    # A schedule that reaches T = 0 runs greedy from there, through the same kernel.
    schedule = lambda step: jnp.maximum(1.0 - step / 100.0, 0.0)
    cooled = simulated_annealing(
        energy, jax.random.key(10), starts, 200, temperature=schedule, record_every=1
    )
    tail = np.asarray(cooled.energy_trace)[101:]
    assert np.all(np.diff(tail, axis=0) <= 0)
    assert math.isfinite(float(cooled.best_energy.max()))


def test_the_energy_trace_holds_every_record_every_th_energy():
    energy = Rastrigin(dim=2)
    starts = jnp.ones((3, 2))
    every = simulated_annealing(
        energy, jax.random.key(11), starts, 12, temperature=1.0, record_every=1
    )
    fourth = simulated_annealing(
        energy, jax.random.key(11), starts, 12, temperature=1.0, record_every=4
    )
    np.testing.assert_array_equal(fourth.energy_trace, every.energy_trace[3::4])
    np.testing.assert_array_equal(every.energy_trace[-1], every.energy)
    # The best energy is the lowest of the start and every step's energy.
    start = jax.vmap(energy)(starts)
    np.testing.assert_array_equal(
        every.best_energy, np.minimum(start, np.asarray(every.energy_trace).min(0))
    )
