"""AIS recovers exact log Z: ring of Gaussians, an anisotropic Gaussian, a small Ising lattice."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy import AnisotropicGaussian, RingOfGaussians
from statjax.thermo.ais import (
    ais,
    ais_estimate,
    ais_geometric,
    importance_sampling_ess,
    interpolated_energy,
    log_mean_exp,
)

NUM_SIGMA = 3.0


def test_ring_of_gaussians_from_a_wide_gaussian_base():
    ring = RingOfGaussians()  # eight modes on a circle of radius 5, log Z(1) = 0
    base = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.full(2, 4.0))
    draws = 4.0 * jax.random.normal(jax.random.key(1), (512, 2))
    kernel_fn = jax.tree_util.Partial(statjax.samplers.mala, step_size=0.05)
    fractions = jnp.linspace(0.0, 1.0, 101) ** 2  # small steps where the base dominates
    result = ais_geometric(
        jax.random.key(0),
        kernel_fn,
        base,
        ring,
        draws,
        fractions,
        base_log_z=base.log_z(1.0),
        num_steps_per_beta=2,
    )
    assert abs(float(result.log_z) - float(ring.log_z(1.0))) < NUM_SIGMA * result.standard_error
    assert 0.0 < float(result.standard_error) < 0.1
    assert result.effective_sample_size > 100


def test_anisotropic_gaussian_along_the_temperature_path():
    gaussian = AnisotropicGaussian(
        mean=jnp.array([1.0, -1.0, 0.0]), scales=jnp.array([1.0, 0.5, 2.0])
    )
    beta_0 = 0.01
    draws = gaussian.mean + gaussian.scales / np.sqrt(beta_0) * jax.random.normal(
        jax.random.key(2), (256, 3)
    )
    # A mass matrix matched to the scales: every axis turns a quarter period per transition.
    kernel = statjax.samplers.hmc(gaussian, 0.3, 5, inverse_mass_matrix=gaussian.scales**2)
    result = ais(
        jax.random.key(3),
        kernel,
        draws,
        jnp.geomspace(beta_0, 1.0, 150),
        base_log_z=gaussian.log_z(beta_0),
        num_steps_per_beta=2,
    )
    assert abs(float(result.log_z - gaussian.log_z(1.0))) < NUM_SIGMA * result.standard_error
    assert float(result.standard_error) < 0.1


def test_small_ising_lattice_from_infinite_temperature():
    ising = pytest.importorskip("statjax.energy.ising")
    exact = pytest.importorskip("statjax.thermo.exact")
    lattice = pytest.importorskip("statjax.samplers.lattice")
    model = ising.square_ising(4)
    beta = 0.4
    spins = jnp.where(jax.random.bernoulli(jax.random.key(4), 0.5, (256, 4, 4)), 1, -1)
    kernel = lattice.checkerboard(model, rule="heat_bath")
    result = ais(
        jax.random.key(5),
        kernel,
        spins.astype(jnp.int8),
        jnp.linspace(0.0, beta, 40),
        base_log_z=16 * np.log(2.0),
    )
    exact_log_z = float(exact.exact_log_z(model, beta))
    assert abs(float(result.log_z) - exact_log_z) < NUM_SIGMA * result.standard_error


def test_estimator_helpers():
    log_weights = jnp.log(jnp.array([1.0, 2.0, 3.0, 6.0]))
    assert float(log_mean_exp(log_weights)) == pytest.approx(np.log(3.0), rel=1e-6)
    assert float(importance_sampling_ess(log_weights)) == pytest.approx(144 / 50, rel=1e-6)
    log_z, standard_error, ess = ais_estimate(log_weights + 50.0, base_log_z=-50.0)
    weights = np.array([1.0, 2.0, 3.0, 6.0])
    assert float(log_z) == pytest.approx(np.log(3.0), rel=1e-5)
    expected = weights.std(ddof=1) / (2.0 * weights.mean())
    assert float(standard_error) == pytest.approx(expected, rel=1e-4)
    energy = interpolated_energy(lambda x: x**2, lambda x: 3.0 * x, 0.5)
    assert float(energy(2.0)) == pytest.approx(5.0)


@pytest.mark.parametrize(
    "path, message",
    [([0.5], "at least 2"), ([0.0, 1.0, 0.5], "non-decreasing"), ([0.0, np.inf], "finite")],
)
def test_bad_paths_raise(path, message):
    kernel = statjax.samplers.metropolis(lambda x: jnp.sum(x**2), 0.1)
    with pytest.raises(ValueError, match=message):
        ais(jax.random.key(0), kernel, jnp.zeros((4, 1)), jnp.array(path))
    with pytest.raises(ValueError, match="num_steps_per_beta"):
        ais(
            jax.random.key(0),
            kernel,
            jnp.zeros((4, 1)),
            jnp.array([0.1, 1.0]),
            num_steps_per_beta=0,
        )
