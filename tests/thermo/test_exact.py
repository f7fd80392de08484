"""Exact enumeration (statjax/thermo/exact.py) against brute-force numpy sums."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statjax.energy.ising import (
    PottsLattice,
    edwards_anderson,
    sherrington_kirkpatrick,
    square_ising,
)
from statjax.thermo.exact import exact_log_z, exact_thermodynamics


def brute_force(model, betas):
    """log Z, <E>, Var E in float64 from every configuration, energies from the model."""
    configurations = np.array(
        list(itertools.product(model.spin_values, repeat=int(np.prod(model.spin_shape)))),
        dtype=np.int8,
    ).reshape(-1, *model.spin_shape)
    energies = np.asarray(jax.vmap(model)(jnp.asarray(configurations)), np.float64)
    results = []
    for beta in betas:
        logits = -beta * energies
        shift = logits.max()
        weights = np.exp(logits - shift)
        z = weights.sum()
        mean = (weights * energies).sum() / z
        variance = (weights * (energies - mean) ** 2).sum() / z
        results.append((np.log(z) + shift, mean, variance))
    return np.array(results).T, configurations, energies


MODELS = {
    "ising 2x4": lambda: square_ising(4).replace(shape=(2, 4)),
    "ising 3x4 field": lambda: square_ising(4, 0.8, 0.3).replace(shape=(3, 4)),
    "potts q=3": lambda: PottsLattice((2, 4), 3, jnp.asarray(1.0), jnp.asarray(0.5)),
    "ea 3x3": lambda: edwards_anderson(jax.random.key(0), (3, 3), fields=np.linspace(-1, 1, 9)),
    "sk 10": lambda: sherrington_kirkpatrick(jax.random.key(1), 10),
}


@pytest.mark.parametrize("name", MODELS)
def test_matches_brute_force(name):
    model = MODELS[name]()
    betas = np.array([0.1, 0.5, 1.0, 3.0])
    (log_z, mean, variance), _, _ = brute_force(model, betas)
    exact = exact_thermodynamics(model, betas, chunk_size=100)  # many chunks, a ragged last one
    np.testing.assert_allclose(exact.log_z, log_z, rtol=2e-6)
    np.testing.assert_allclose(exact.mean_energy, mean, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(exact.energy_variance, variance, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exact.heat_capacity, betas**2 * exact.energy_variance, rtol=1e-6)


def test_chunking_does_not_change_the_result_and_shapes_follow_beta():
    model = square_ising(4)
    betas = jnp.array([[0.2, 0.44], [0.6, 1.0]])
    whole = exact_thermodynamics(model, betas, chunk_size=2**16)
    chunked = exact_thermodynamics(model, betas, chunk_size=1000)
    assert whole.log_z.shape == (2, 2)
    for a, b in zip(whole[:4], chunked[:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_energy_is_minus_the_derivative_of_log_z_and_limits():
    model = square_ising(4)
    beta, step = 0.44, 1e-2
    # Central difference of log Z: error ~ step^2 <E^3>_c / 6, below 1e-2 here.
    log_z_plus, log_z_minus = exact_log_z(model, beta + step), exact_log_z(model, beta - step)
    derivative = (float(log_z_plus) - float(log_z_minus)) / (2 * step)
    exact = exact_thermodynamics(model, beta)
    np.testing.assert_allclose(-derivative, exact.mean_energy, rtol=1e-3)
    # beta -> 0: log Z = N log 2, <E> = 0; beta large: two ground states, E = -2N.
    np.testing.assert_allclose(exact_log_z(model, 1e-6), 16 * np.log(2), rtol=1e-5)
    cold = exact_thermodynamics(model, 5.0)
    np.testing.assert_allclose(cold.log_z, np.log(2) + 5.0 * 32, rtol=1e-6)
    np.testing.assert_allclose(cold.mean_energy, -32.0, rtol=1e-6)


def test_observable_averages():
    model = square_ising(4).replace(shape=(2, 4))
    betas = np.array([0.3, 0.8])
    _, configurations, energies = brute_force(model, betas)
    magnetizations = configurations.reshape(len(configurations), -1).sum(1).astype(np.float64)

    def observable(spins):
        total = jnp.sum(spins.astype(jnp.float32))
        return jnp.stack([jnp.abs(total), total**2, total**4])

    exact = exact_thermodynamics(model, betas, observable)
    assert exact.observables.shape == (2, 3)
    for row, beta in zip(exact.observables, betas, strict=True):
        weights = np.exp(-beta * (energies - energies.min()))
        weights /= weights.sum()
        expected = [(weights * np.abs(magnetizations) ** p).sum() for p in (1, 2, 4)]
        np.testing.assert_allclose(row, expected, rtol=1e-5)


def test_plain_energy_function_with_explicit_configuration_space():
    def energy(spins):  # two coupled spins
        return -jnp.prod(spins.astype(jnp.float32))

    log_z = exact_log_z(energy, 1.0, spin_shape=(2,), spin_values=(-1, 1))
    np.testing.assert_allclose(log_z, np.log(2 * np.e + 2 / np.e), rtol=1e-6)


def test_too_many_configurations_is_an_error():
    with pytest.raises(ValueError, match="beyond the limit"):
        exact_log_z(square_ising(6), 1.0)
