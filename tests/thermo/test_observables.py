"""Observables with jackknife error bars (statjax/thermo/observables.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy.ising import square_ising
from statjax.samplers.cluster import swendsen_wang
from statjax.thermo.exact import exact_thermodynamics
from statjax.thermo.observables import (
    abs_magnetization_per_spin,
    binder_cumulant,
    energy_per_spin,
    heat_capacity_per_spin,
    jackknife,
    spin_observables,
    susceptibility_per_spin,
)

NUM_SIGMA = 5.0


def test_jackknife_of_the_mean_is_the_mean_and_its_standard_error():
    values = np.random.default_rng(0).normal(size=(50, 3))
    estimate = jackknife(lambda mean: mean, jnp.asarray(values))
    np.testing.assert_allclose(estimate.value, values.mean(0), rtol=1e-5)
    np.testing.assert_allclose(estimate.error, values.std(0, ddof=1) / np.sqrt(50), rtol=1e-4)


def test_iid_gaussian_energies_give_calibrated_errors():
    # E ~ N(-10, 3^2): <E>/N = -10/N, C = beta^2 9 / N. Over 200 repetitions the
    # spread of the estimates must match the mean reported error (within 15%).
    num_spins, beta = 4, 0.5
    keys = jax.random.split(jax.random.key(0), 200)
    energies = -10.0 + 3.0 * jax.vmap(lambda k: jax.random.normal(k, (200, 32)))(keys)
    estimates = jax.vmap(lambda e: heat_capacity_per_spin(e, beta, num_spins))(energies)
    values, errors = np.asarray(estimates.value), np.asarray(estimates.error)
    assert abs(values.mean() - beta**2 * 9 / num_spins) < 4 * values.std() / np.sqrt(200)
    assert 0.85 < errors.mean() / values.std() < 1.15
    energy = energy_per_spin(energies[0], num_spins)
    assert abs(float(energy.value) + 2.5) < NUM_SIGMA * float(energy.error)


def test_binder_cumulant_limits():
    ordered = jnp.array([[16.0, -16.0], [-16.0, 16.0], [16.0, 16.0]])
    np.testing.assert_allclose(binder_cumulant(ordered).value, 2 / 3, rtol=1e-6)
    gaussian = jax.random.normal(jax.random.key(1), (20000, 16))
    estimate = binder_cumulant(gaussian)
    assert abs(float(estimate.value)) < NUM_SIGMA * float(estimate.error)


def test_batch_means_on_one_chain_and_batch_axes():
    trace = jax.random.normal(jax.random.key(2), (4000, 1, 3)) + jnp.array([1.0, 2.0, 3.0])
    estimate = energy_per_spin(trace, num_spins=1, num_batches=40)
    assert estimate.value.shape == (3,)
    # 40 batches: the error bar itself is uncertain by ~1 / sqrt(2 * 39) = 11%.
    np.testing.assert_allclose(estimate.error, 1 / np.sqrt(4000), rtol=0.5)
    assert np.all(np.abs(estimate.value - np.array([1.0, 2.0, 3.0])) < 5 * estimate.error)


def test_sampled_observables_match_exact_enumeration_on_4x4():
    # Swendsen-Wang on the 4x4 Ising model at three temperatures, 64 chains each; exact
    # <|M|>, <M^2>, <M^4> from enumeration give |m|, chi and the Binder cumulant.
    model = square_ising(4)
    betas = np.array([0.3, 0.4406868, 0.6], np.float32)
    num_chains = 64
    spins = jax.random.rademacher(jax.random.key(3), (3 * num_chains, 4, 4), dtype=jnp.int8)
    _, (energies, magnetizations) = statjax.run_chains(
        swendsen_wang(model),
        jax.random.key(4),
        spins,
        500,
        beta=np.repeat(betas, num_chains),
        observe=lambda state: (state.energy, state.magnetization),
    )

    def by_beta(trace):
        return trace[100:].reshape(-1, 3, num_chains).transpose(0, 2, 1)

    result = spin_observables(by_beta(energies), by_beta(magnetizations), betas, 16)

    def moments(spins):
        total = jnp.sum(spins.astype(jnp.float32))
        return jnp.stack([jnp.abs(total), total**2, total**4])

    exact = exact_thermodynamics(model, betas, moments)
    abs_m, m2, m4 = (exact.observables[:, i] for i in range(3))
    expected = {
        "energy_per_spin": exact.mean_energy / 16,
        "abs_magnetization_per_spin": abs_m / 16,
        "heat_capacity_per_spin": exact.heat_capacity / 16,
        "susceptibility_per_spin": betas * (m2 - abs_m**2) / 16,
        "binder_cumulant": 1 - m4 / (3 * m2**2),
    }
    for name, value in expected.items():
        estimate = getattr(result, name)
        z = (estimate.value - value) / estimate.error
        assert np.all(np.abs(z) < NUM_SIGMA), f"{name} off by {z} standard errors"
    # The non-connected susceptibility is beta <M^2> / N.
    full = susceptibility_per_spin(by_beta(magnetizations), betas, 16, connected=False)
    assert np.all(np.abs(full.value - betas * m2 / 16) < NUM_SIGMA * full.error)
    assert abs_magnetization_per_spin(by_beta(magnetizations), 16).value.shape == (3,)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="at least 2 groups"):
        energy_per_spin(jnp.zeros((10, 1)), 4)
    with pytest.raises(ValueError, match="num_draws, num_chains"):
        energy_per_spin(jnp.zeros(10), 4)
    with pytest.raises(ValueError, match="num_batches"):
        energy_per_spin(jnp.zeros((10, 2)), 4, num_batches=0)
