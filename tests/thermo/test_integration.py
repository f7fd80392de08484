"""Thermodynamic integration recovers exact log Z; quadrature weights; F and S helpers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate

import statjax
from statjax.energy import AnisotropicGaussian, RingOfGaussians, interpolated_energy
from statjax.thermo.integration import (
    entropy_from_free_energy,
    free_energy,
    simpson_weights,
    thermodynamic_integration,
    trapezoid_weights,
)

NUM_SIGMA = 3.0


def _total_error(ti):
    return float(jnp.sqrt(ti.statistical_error**2 + ti.discretisation_error**2))


def _chain_means_and_errors(trace, burn_in):
    """Per-grid-point means and standard errors from independent chains, ``(steps, K, chains)``."""
    chain_means = np.asarray(trace[burn_in:], dtype=np.float64).mean(0)
    return chain_means.mean(-1), chain_means.std(-1, ddof=1) / np.sqrt(chain_means.shape[-1])


def test_anisotropic_gaussian_along_beta():
    gaussian = AnisotropicGaussian(mean=jnp.zeros(3), scales=jnp.array([1.0, 0.5, 2.0]))
    betas = jnp.geomspace(0.1, 1.0, 9)
    num_per_beta = 64
    chain_betas = jnp.repeat(betas, num_per_beta)  # one run, every beta of the grid at once
    start = gaussian.scales * jax.random.normal(jax.random.key(0), (chain_betas.size, 3))
    start = start / jnp.sqrt(chain_betas)[:, None]
    kernel = statjax.samplers.hmc(gaussian, 0.3, 5, inverse_mass_matrix=gaussian.scales**2)
    _, energies = statjax.run_chains(
        kernel, jax.random.key(1), start, 200, beta=chain_betas, observe=lambda s: s.energy
    )
    means, errors = _chain_means_and_errors(energies.reshape(200, 9, num_per_beta), 20)
    ti = thermodynamic_integration(betas, means, errors, base_log_z=gaussian.log_z(0.1))
    exact = float(gaussian.log_z(1.0))
    assert abs(float(ti.log_z) - exact) < NUM_SIGMA * _total_error(ti)
    assert float(ti.statistical_error) < 0.05
    np.testing.assert_allclose(ti.log_z_path[0], gaussian.log_z(0.1), rtol=1e-6)


def test_ring_of_gaussians_along_the_geometric_path():
    ring = RingOfGaussians()
    base = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.full(2, 4.0))
    fractions = jnp.linspace(0.0, 1.0, 17) ** 3  # the integrand changes fastest near b = 0
    gap = lambda s: ring(s.position) - base(s.position)
    kernel = statjax.samplers.hmc(interpolated_energy(base, ring, 0.0), 0.05, 10)
    positions = 4.0 * jax.random.normal(jax.random.key(2), (128, 2))  # exact draws at b = 0
    means, errors = [], []
    for fraction in fractions:  # a new fraction is a new leaf: one compiled program
        kernel = kernel.replace(energy_fn=kernel.energy_fn.replace(fraction=fraction))
        final, gaps = statjax.run_chains(kernel, jax.random.key(3), positions, 200, observe=gap)
        mean, error = _chain_means_and_errors(gaps[:, None, :], 50)
        means.append(mean[0])
        errors.append(error[0])
        positions = final.position  # anneal: each point starts where the last one ended
    ti = thermodynamic_integration(
        fractions, jnp.array(means), jnp.array(errors), base_log_z=base.log_z(1.0)
    )
    assert abs(float(ti.log_z) - float(ring.log_z(1.0))) < NUM_SIGMA * _total_error(ti)
    assert _total_error(ti) < 0.2


def test_small_ising_lattice_along_beta():
    ising = pytest.importorskip("statjax.energy.ising")
    exact = pytest.importorskip("statjax.thermo.exact")
    lattice = pytest.importorskip("statjax.samplers.lattice")
    model = ising.square_ising(4)
    betas = jnp.linspace(0.0, 0.4, 11)
    num_per_beta = 64
    chain_betas = jnp.repeat(betas, num_per_beta)
    spins = jnp.where(jax.random.bernoulli(jax.random.key(4), 0.5, (chain_betas.size, 4, 4)), 1, -1)
    kernel = lattice.checkerboard(model, rule="heat_bath")
    # beta = 0 is not a valid run_chains temperature: sample it exactly (uniform spins).
    positive = chain_betas.at[:num_per_beta].set(1e-6)
    _, energies = statjax.run_chains(
        kernel,
        jax.random.key(5),
        spins.astype(jnp.int8),
        300,
        beta=positive,
        observe=lambda s: s.energy,
    )
    means, errors = _chain_means_and_errors(energies.reshape(300, 11, num_per_beta), 50)
    ti = thermodynamic_integration(betas, means, errors, base_log_z=16 * np.log(2.0))
    exact_log_z = float(exact.exact_log_z(model, 0.4))
    assert abs(float(ti.log_z) - exact_log_z) < NUM_SIGMA * _total_error(ti)


@pytest.mark.parametrize("num_points", [5, 6, 9])
def test_quadrature_weights_match_scipy(num_points):
    points = np.sort(np.random.default_rng(num_points).uniform(0.0, 2.0, num_points))
    values = np.sin(3.0 * points) + points**2
    np.testing.assert_allclose(
        float(simpson_weights(points) @ values),
        scipy.integrate.simpson(values, x=points),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        float(trapezoid_weights(points) @ values),
        scipy.integrate.trapezoid(values, x=points),
        rtol=1e-5,
    )


def test_errors_propagate_and_discretisation_shrinks():
    betas = jnp.linspace(0.5, 2.0, 5)
    ti = thermodynamic_integration(betas, 0.5 / betas, jnp.full(5, 0.1), rule="trapezoid")
    expected = 0.1 * float(jnp.sqrt(jnp.sum(trapezoid_weights(betas) ** 2)))
    assert float(ti.statistical_error) == pytest.approx(expected, rel=1e-5)
    fine = thermodynamic_integration(jnp.linspace(0.5, 2.0, 17), 0.5 / jnp.linspace(0.5, 2.0, 17))
    assert float(fine.discretisation_error) < 0.1 * float(ti.discretisation_error)
    assert abs(float(fine.log_z) + 0.5 * np.log(4.0)) < 1e-4


def test_free_energy_and_entropy_of_a_harmonic_well():
    beta = 2.0  # 1-D harmonic well: log Z = log sqrt(2 pi / beta), U = 1 / (2 beta)
    log_z = 0.5 * np.log(2 * np.pi / beta)
    assert float(free_energy(log_z, beta)) == pytest.approx(-log_z / beta)
    assert float(entropy_from_free_energy(beta, 0.5 / beta, log_z)) == pytest.approx(0.5 + log_z)


@pytest.mark.parametrize(
    "betas, means, kwargs, message",
    [
        ([0.0, 1.0], [1.0, 1.0], {}, "at least 3"),
        ([0.0, 2.0, 1.0], [1.0, 1.0, 1.0], {}, "strictly increasing"),
        ([0.0, 1.0, 2.0], [1.0, 1.0], {}, "mean_energies must have shape"),
        ([0.0, 1.0, 2.0], [1.0, 1.0, 1.0], {"rule": "midpoint"}, "rule must be"),
    ],
)
def test_bad_arguments_raise(betas, means, kwargs, message):
    with pytest.raises(ValueError, match=message):
        thermodynamic_integration(jnp.array(betas), jnp.array(means), **kwargs)
