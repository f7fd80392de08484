"""Stepping stone, BAR and MBAR along a ladder recover exact log Z ratios.

Exact references: enumeration (4x4 Ising and a 4x4 Edwards-Anderson +-J glass
sampled by replica exchange; a 4x2 three-state Potts lattice sampled exactly),
and the Gaussian closed form ``log Z_k - log Z_0 = (d/2) log(beta_0 / beta_k)``.
Tolerance: ``K = 4`` block-jackknife standard errors (10 blocks along time),
fixed seeds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy.ising import PottsLattice, edwards_anderson, square_ising
from statjax.samplers.lattice import checkerboard, colored_sweep
from statjax.samplers.tempering import replica_exchange
from statjax.thermo.bridge import LADDER_METHODS, bar, ladder_log_z, mbar, temperature_energies

K = 4.0
BETAS = np.linspace(0.1, 0.7, 8)


def _exact_differences(model, betas):
    exact = np.asarray(statjax.thermo.exact_log_z(model, jnp.asarray(betas)), np.float64)
    return exact - exact[0]


def _replica_exchange_trace(kernel, shape, seed, num_steps=600, burn_in=100):
    pt = replica_exchange(kernel, jnp.asarray(BETAS))
    initial = jax.random.rademacher(jax.random.key(seed), (8, len(BETAS), *shape), jnp.int8)
    _, energies = statjax.run_chains(
        pt, jax.random.key(seed + 1), initial, num_steps, observe=temperature_energies
    )
    return np.asarray(energies)[burn_in:]


def _check_all_methods(energies, betas, exact):
    for method in LADDER_METHODS:
        result = ladder_log_z(energies, betas, method=method)
        error = np.abs(result.log_z - exact)
        assert result.log_z[0] == 0.0 and result.standard_error[0] == 0.0
        assert np.all(error[1:] < K * result.standard_error[1:]), (method, error, result)
        assert np.all(result.standard_error[1:] < 0.1), method


def test_ising_replica_exchange_run():
    model = square_ising(4)
    energies = _replica_exchange_trace(checkerboard(model, "heat_bath"), (4, 4), seed=0)
    _check_all_methods(energies, BETAS, _exact_differences(model, BETAS))


def test_edwards_anderson_replica_exchange_run():
    model = edwards_anderson(jax.random.key(7), (4, 4), distribution="binary")
    energies = _replica_exchange_trace(colored_sweep(model, "heat_bath"), (16,), seed=2)
    _check_all_methods(energies, BETAS, _exact_differences(model, BETAS))


def test_potts_with_exact_samples():
    model = PottsLattice((4, 2), num_states=3)
    digits = (np.arange(3**8)[:, None] // 3 ** np.arange(8)) % 3
    energies_of_all = np.asarray(jax.vmap(model)(jnp.asarray(digits.reshape(-1, 4, 2), jnp.int8)))
    rng = np.random.default_rng(3)
    trace = np.empty((2000, len(BETAS)))
    for k, beta in enumerate(BETAS):
        logits = -beta * energies_of_all
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        trace[:, k] = rng.choice(energies_of_all, size=2000, p=probabilities)
    _check_all_methods(trace, BETAS, _exact_differences(model, BETAS))


def test_gaussian_closed_form_with_exact_samples():
    dim, betas = 4, np.geomspace(0.2, 5.0, 6)
    rng = np.random.default_rng(4)
    # E = |x|^2 / 2 at beta is chi^2_d / (2 beta).
    trace = rng.chisquare(dim, size=(1000, 2, len(betas))) / (2.0 * betas)
    exact = 0.5 * dim * np.log(betas[0] / betas)
    _check_all_methods(trace, betas, exact)
    result = ladder_log_z(trace, betas, base_log_z=1.5)
    assert result.log_z[0] == 1.5


def test_bar_and_mbar_on_two_gaussians():
    rng = np.random.default_rng(5)
    # p_0 = N(0, 1), p_1 = N(0, 1/4): u_0 = x^2/2, u_1 = 2 x^2, f_1 - f_0 = log 2.
    x0, x1 = rng.normal(0.0, 1.0, 4000), rng.normal(0.0, 0.5, 4000)
    delta = bar(1.5 * x0**2, -1.5 * x1**2)
    # Standard error of BAR here ~ 0.01 (measured over seeds); K = 4.
    assert abs(delta - np.log(2.0)) < K * 0.01
    x = np.concatenate([x0, x1])
    f = mbar(np.stack([0.5 * x**2, 2.0 * x**2]), np.array([4000, 4000]))
    assert abs(f[1] - delta) < 1e-6  # MBAR with two states is BAR


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="method"):
        ladder_log_z(np.zeros((10, 2)), [0.1, 0.2], method="tim")
    with pytest.raises(ValueError, match="strictly increasing"):
        ladder_log_z(np.zeros((10, 2)), [0.2, 0.1])
    with pytest.raises(ValueError, match="K = 3"):
        ladder_log_z(np.zeros((10, 2)), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="num_blocks"):
        ladder_log_z(np.zeros((5, 2)), [0.1, 0.2], num_blocks=10)
    with pytest.raises(ValueError, match="finite"):
        bar(np.array([np.nan]), np.array([0.0]))
