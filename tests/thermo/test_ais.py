"""AIS recovers exact log Z: ring of Gaussians, an anisotropic Gaussian, a small Ising lattice."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy import AnisotropicGaussian, RingOfGaussians, interpolated_energy
from statjax.thermo.ais import (
    ais,
    ais_estimate,
    ais_geometric,
    importance_sampling_ess,
    log_mean_exp,
)

NUM_SIGMA = 3.0


def test_ring_of_gaussians_from_a_wide_gaussian_base():
    ring = RingOfGaussians()  # eight modes on a circle of radius 5, log Z(1) = 0
    base = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.full(2, 4.0))
    draws = 4.0 * jax.random.normal(jax.random.key(1), (512, 2))
    kernel = statjax.samplers.mala(interpolated_energy(base, ring), 0.05)
    fractions = jnp.linspace(0.0, 1.0, 101) ** 2  # small steps where the base dominates
    result = ais_geometric(
        kernel,
        jax.random.key(0),
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
        kernel,
        jax.random.key(3),
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
        kernel,
        jax.random.key(5),
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
    log_z, standard_error, _ = ais_estimate(log_weights + 50.0, base_log_z=-50.0)
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
        ais(kernel, jax.random.key(0), jnp.zeros((4, 1)), jnp.array(path))
    with pytest.raises(ValueError, match="num_steps_per_beta"):
        ais(
            kernel,
            jax.random.key(0),
            jnp.zeros((4, 1)),
            jnp.array([0.1, 1.0]),
            num_steps_per_beta=0,
        )


# The three tests below share one path length and one number of steps per point, so
# that they share compiled programs (compilation is most of their time).
PATH_LENGTH, STEPS_PER_POINT = 3, 3


def _small_gaussian(scale=1.0):
    return AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.full(2, scale))


def test_transitions_follow_the_driver_key_rule():
    """Path point t runs global steps (t - 1) * n onwards: one temperature is run_chains."""
    kernel = statjax.samplers.mala(_small_gaussian(), 0.3)
    initial = jax.random.normal(jax.random.key(1), (8, 2))
    steps = (PATH_LENGTH - 1) * STEPS_PER_POINT
    result = ais(
        kernel, jax.random.key(0), initial, jnp.full(PATH_LENGTH, 0.5),
        num_steps_per_beta=STEPS_PER_POINT,
    )  # fmt: skip
    final, _ = statjax.run_chains(kernel, jax.random.key(0), initial, steps, beta=0.5)
    np.testing.assert_allclose(result.final_states.position, final.position, rtol=1e-6)
    np.testing.assert_array_equal(result.log_weights, np.zeros(8))
    # The geometric path at a fixed fraction is run_chains on E_b.
    kernel = statjax.samplers.mala(interpolated_energy(_small_gaussian(), RingOfGaussians()), 0.1)
    result = ais_geometric(
        kernel, jax.random.key(0), initial, jnp.full(PATH_LENGTH, 0.25),
        num_steps_per_beta=STEPS_PER_POINT,
    )  # fmt: skip
    at_fraction = kernel.replace(energy_fn=kernel.energy_fn.replace(fraction=0.25))
    final, _ = statjax.run_chains(at_fraction, jax.random.key(0), initial, steps)
    np.testing.assert_allclose(result.final_states.position, final.position, rtol=1e-6)


def test_legacy_and_typed_keys_give_the_same_weights():
    initial = 3.0 * jax.random.normal(jax.random.key(1), (8, 2))
    kernels_and_paths = (
        (ais, statjax.samplers.mala(_small_gaussian(), 0.3), jnp.geomspace(0.1, 1.0, PATH_LENGTH)),
        (
            ais_geometric,
            statjax.samplers.mala(interpolated_energy(_small_gaussian(), RingOfGaussians()), 0.1),
            jnp.linspace(0.0, 1.0, PATH_LENGTH),
        ),
    )
    for run, kernel, path in kernels_and_paths:
        typed = run(kernel, jax.random.key(7), initial, path, num_steps_per_beta=STEPS_PER_POINT)
        legacy = run(
            kernel, jax.random.PRNGKey(7), initial, path, num_steps_per_beta=STEPS_PER_POINT
        )
        np.testing.assert_array_equal(typed.log_weights, legacy.log_weights)


def test_new_path_step_size_or_energy_numbers_do_not_recompile():
    # statjax.thermo.ais is also the name of the function: import the module by path.
    ais_module = importlib.import_module("statjax.thermo.ais")

    def run(scale, step_size, path):
        gaussian = _small_gaussian(scale)
        initial = jnp.ones((8, 2))
        kernel = statjax.samplers.mala(gaussian, step_size)
        ais(kernel, jax.random.key(0), initial, path, num_steps_per_beta=STEPS_PER_POINT)
        energy = interpolated_energy(gaussian, RingOfGaussians(radius=scale))
        kernel = statjax.samplers.mala(energy, step_size)
        ais_geometric(kernel, jax.random.key(0), initial, path, num_steps_per_beta=STEPS_PER_POINT)
        return (
            ais_module._ais_temperature_path._cache_size(),
            ais_module._ais_geometric_path._cache_size(),
        )

    before = run(1.0, 0.1, jnp.linspace(0.1, 1.0, PATH_LENGTH))
    assert run(2.0, 0.2, jnp.linspace(0.2, 0.9, PATH_LENGTH) ** 2) == before


def test_geometric_path_needs_an_interpolated_energy():
    kernel = statjax.samplers.mala(lambda x: jnp.sum(x**2), 0.1)
    with pytest.raises(TypeError, match="InterpolatedEnergy"):
        ais_geometric(kernel, jax.random.key(0), jnp.zeros((4, 1)), jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="betas"):
        ais(kernel, jax.random.key(0), jnp.zeros((4, 1)), jnp.array([0.0, 0.0, 1.0]))
