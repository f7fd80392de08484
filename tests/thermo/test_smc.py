"""Tempered SMC and population annealing recover exact log Z (enumeration, closed form).

Tolerance: ``K = 4`` standard errors, the error of one run from the family-based
(Lee & Whiteley 2018) estimator with multinomial resampling, or from 8
independent runs (delta method on their mean ``Z``) with systematic resampling.
Seeds are fixed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy import AnisotropicGaussian
from statjax.energy.ising import square_ising
from statjax.samplers.lattice import checkerboard
from statjax.thermo.ais import ais_estimate
from statjax.thermo.smc import (
    adaptive_tempered_smc,
    conditional_ess,
    family_variance,
    population_annealing,
    resample,
)

K = 4.0
BETA = 0.5
MODEL = square_ising(4)
BASE_LOG_Z = 16 * np.log(2.0)


@pytest.fixture(scope="module")
def exact_log_z():
    return float(statjax.thermo.exact_log_z(MODEL, BETA))


def _spins(seed, num=1024):
    return jax.random.rademacher(jax.random.key(seed), (num, 4, 4), jnp.int8)


def test_adaptive_smc_on_the_4x4_ising_lattice(exact_log_z):
    result = adaptive_tempered_smc(
        checkerboard(MODEL, "heat_bath"),
        jax.random.key(0),
        _spins(1),
        target_beta=BETA,
        base_log_z=BASE_LOG_Z,
        target_ess=0.7,
        num_steps_per_beta=2,
        max_stages=64,  # one compiled program with population annealing (smc.py)
    )
    assert abs(float(result.log_z) - exact_log_z) < K * float(result.standard_error)
    assert 0.0 < float(result.standard_error) < 0.15
    betas = np.asarray(result.betas)
    assert betas[0] == 0.0 and betas[-1] == np.float32(BETA) and np.all(np.diff(betas) > 0)
    assert result.num_stages >= 3
    # Each adaptive step (but the last) was chosen at the target conditional ESS.
    assert int(jnp.sum(result.family_sizes)) == 1024
    assert 1.0 <= float(result.effective_num_families) <= 1024.0
    assert np.all(np.asarray(result.acceptance_rate) > 0.0)


def test_population_annealing_on_the_4x4_ising_lattice(exact_log_z):
    result = population_annealing(
        checkerboard(MODEL, "heat_bath"),
        jax.random.key(2),
        _spins(3),
        jnp.linspace(0.0, BETA, 11),
        base_log_z=BASE_LOG_Z,
        num_steps_per_beta=2,
    )
    assert abs(float(result.log_z) - exact_log_z) < K * float(result.standard_error)
    assert 0.0 < float(result.standard_error) < 0.1
    assert result.num_stages == 10 and bool(jnp.all(result.resampled))


def test_independent_systematic_runs_give_the_error_bar(exact_log_z):
    kernel = checkerboard(MODEL, "heat_bath")
    runs = [
        population_annealing(
            kernel,
            jax.random.key(10 + run),
            _spins(20 + run),
            jnp.linspace(0.0, BETA, 11),
            base_log_z=BASE_LOG_Z,
            resampling="systematic",
            num_steps_per_beta=2,
        )
        for run in range(8)
    ]
    assert all(np.isnan(float(r.standard_error)) for r in runs)
    log_z, standard_error, _ = ais_estimate(jnp.stack([r.log_z for r in runs]))
    assert abs(float(log_z) - exact_log_z) < K * float(standard_error)
    assert 0.0 < float(standard_error) < 0.1


def test_adaptive_smc_on_a_gaussian_closed_form():
    gaussian = AnisotropicGaussian(
        mean=jnp.array([1.0, -1.0, 0.0]), scales=jnp.array([1.0, 0.5, 2.0])
    )
    beta_0 = 0.01
    draws = gaussian.mean + gaussian.scales / np.sqrt(beta_0) * jax.random.normal(
        jax.random.key(5), (512, 3)
    )
    kernel = statjax.samplers.hmc(gaussian, 0.3, 5, inverse_mass_matrix=gaussian.scales**2)
    result = adaptive_tempered_smc(
        kernel,
        jax.random.key(6),
        draws,
        initial_beta=beta_0,
        target_beta=1.0,
        base_log_z=gaussian.log_z(beta_0),
        num_steps_per_beta=2,
    )
    error = abs(float(result.log_z - gaussian.log_z(1.0)))
    assert error < K * float(result.standard_error)
    assert 0.0 < float(result.standard_error) < 0.2


def test_resampling_schemes():
    weights = jnp.array([0.1, 0.0, 0.6, 0.3])
    ancestors = resample(jax.random.key(0), jnp.log(weights), "systematic")
    counts = np.bincount(np.asarray(ancestors), minlength=4)
    # Systematic resampling gives every particle floor(N W) or ceil(N W) offspring.
    assert np.all(np.abs(counts - 4 * np.asarray(weights)) < 1.0)
    many = resample(jax.random.key(1), jnp.log(jnp.tile(weights, 2500)), "multinomial")
    frequencies = np.bincount(np.asarray(many) % 4, minlength=4) / 10_000
    # Binomial standard error sqrt(p (1 - p) / n) <= 0.005.
    assert np.all(np.abs(frequencies - np.asarray(weights)) < K * 0.005)
    with pytest.raises(ValueError, match="resampling"):
        resample(jax.random.key(0), jnp.zeros(4), "residual")


def test_conditional_ess_and_family_variance():
    assert float(conditional_ess(jnp.zeros(8), jnp.zeros(8))) == pytest.approx(1.0)
    assert float(conditional_ess(jnp.zeros(4), jnp.array([0.0, -50, -50, -50]))) == (
        pytest.approx(0.25, rel=1e-4)
    )
    # No resampling: the estimator is the importance-sampling one, sum W^2 - 1/N, times N/(N-1).
    log_w = jnp.log(jnp.array([0.4, 0.3, 0.2, 0.1]))
    relative, sizes, effective = family_variance(log_w, jnp.arange(4), 0)
    expected = (4 * 0.3 - 1) / 3
    assert float(relative) == pytest.approx(expected, rel=1e-5)
    assert sizes.tolist() == [1, 1, 1, 1] and float(effective) == pytest.approx(1 / 0.3)


def test_bad_arguments_are_refused():
    kernel = checkerboard(MODEL, "heat_bath")
    with pytest.raises(ValueError, match="max_stages"):
        # A conditional ESS of 0.9999 needs far more than 64 steps to reach beta = 0.5.
        adaptive_tempered_smc(
            kernel,
            jax.random.key(0),
            _spins(1),
            target_beta=BETA,
            target_ess=0.9999,
            num_steps_per_beta=2,
            max_stages=64,
        )
    with pytest.raises(ValueError, match="target_beta"):
        adaptive_tempered_smc(kernel, jax.random.key(0), _spins(1, 64), target_beta=-1.0)
    with pytest.raises(ValueError, match="increase strictly"):
        population_annealing(kernel, jax.random.key(0), _spins(1, 64), jnp.array([0.0, 0.2, 0.1]))
    with pytest.raises(ValueError, match="target_ess"):
        adaptive_tempered_smc(kernel, jax.random.key(0), _spins(1, 64), target_ess=1.5)
