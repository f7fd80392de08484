"""Wang-Landau with the 1/t rule recovers the exact density of states.

References: ``g(E)`` of the periodic 4x4 Ising lattice and of a 4x4
Edwards-Anderson +-J glass by enumeration of the 2^16 configurations
(:func:`exact_density_of_states`; Beale 1996 for the Ising lattice), and
``log Z(beta)`` by enumeration. Tolerance: ``K = 4`` standard errors over 8
independent walkers (standard deviation / sqrt 8), fixed seeds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy.ising import edwards_anderson, square_ising
from statjax.thermo.wang_landau import (
    energy_grid,
    exact_density_of_states,
    thermodynamics_from_density_of_states,
    wang_landau,
)

K = 4.0
MODEL = square_ising(4)


@pytest.fixture(scope="module")
def ising_dos():
    spins = jax.random.rademacher(jax.random.key(0), (8, 4, 4), jnp.int8)
    return wang_landau(MODEL, jax.random.key(1), spins, 4000)


def test_exact_density_of_states_of_the_4x4_lattice():
    log_g = exact_density_of_states(MODEL)
    counts = np.round(np.exp(log_g)).astype(int)
    assert counts.sum() == 2**16
    # Beale (1996): E = -32, -24, -20, ... ; no state at E = -28 or +28.
    assert counts[:5].tolist() == [2, 0, 32, 64, 424] and counts[8] == 20524
    assert energy_grid(MODEL) == (-32.0, 4.0, 17)


def test_ising_density_of_states_against_enumeration(ising_dos):
    exact = exact_density_of_states(MODEL)
    reachable = np.isfinite(exact)
    assert np.array_equal(ising_dos.visited, reachable)
    error = np.abs(ising_dos.mean[reachable] - exact[reachable])
    standard_error = ising_dos.standard_error[reachable]
    assert np.all(error < K * standard_error), (error, standard_error)
    assert np.all(standard_error < 0.1)  # the error bar is informative (not the tolerance)
    # The 1/t phase was reached: log f = N_E / t, well below the first-phase values.
    assert np.all(ising_dos.log_f < 1e-3)


def test_thermodynamics_from_one_run(ising_dos):
    betas = np.array([0.2, 0.44, 0.7])
    thermo = thermodynamics_from_density_of_states(ising_dos, betas, 16)
    exact = statjax.thermo.exact_thermodynamics(MODEL, jnp.asarray(betas))
    for estimate, reference in [
        (thermo.log_z, exact.log_z),
        (thermo.internal_energy, exact.mean_energy / 16),
        (thermo.heat_capacity, exact.heat_capacity / 16),
    ]:
        mean, standard_error = estimate
        assert np.all(np.abs(mean - np.asarray(reference)) < K * standard_error + 1e-6)
    free_energy = -np.asarray(exact.log_z) / (betas * 16)
    assert np.all(np.abs(thermo.free_energy[0] - free_energy) < K * thermo.free_energy[1] + 1e-6)


def test_edwards_anderson_glass_on_its_offset_grid():
    model = edwards_anderson(jax.random.key(3), (4, 4), distribution="binary")
    spins = jax.random.rademacher(jax.random.key(4), (8, 16), jnp.int8)
    dos = wang_landau(model, jax.random.key(5), spins, 2000)
    grid = (float(dos.energies[0]), 4.0, len(dos.energies))
    exact = exact_density_of_states(model, grid)
    assert np.isclose(np.exp(exact[np.isfinite(exact)]).sum(), 2**16)
    reachable = np.isfinite(exact)
    assert np.array_equal(dos.visited, reachable)
    error = np.abs(dos.mean[reachable] - exact[reachable])
    assert np.all(error < K * dos.standard_error[reachable]), error


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="walkers"):
        wang_landau(MODEL, jax.random.key(0), jnp.ones((1, 4, 4), jnp.int8), 10)
    with pytest.raises(ValueError, match="field"):
        energy_grid(square_ising(4, field=0.5))
