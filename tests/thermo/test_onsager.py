"""Onsager's 2-D Ising solution (statjax/thermo/onsager.py) against float64 references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import ellipk

from statjax.thermo.onsager import (
    CRITICAL_BETA,
    elliptic_k,
    onsager_critical_beta,
    onsager_free_energy,
    onsager_heat_capacity,
    onsager_internal_energy,
    onsager_magnetization,
)

BETAS = [0.1, 0.3, 0.42, 0.46, 0.6, 1.0]


def reference_internal_energy(beta):
    k = 2 * np.sinh(2 * beta) / np.cosh(2 * beta) ** 2
    factor = 2 * np.tanh(2 * beta) ** 2 - 1
    return -1 / np.tanh(2 * beta) * (1 + 2 / np.pi * factor * ellipk(k**2))  # scipy: m = k^2


def reference_free_energy(beta):
    k = 2 * np.sinh(2 * beta) / np.cosh(2 * beta) ** 2

    def integrand(phi):
        return np.log((1 + np.sqrt(1 - k**2 * np.sin(phi) ** 2)) / 2)

    integral = quad(integrand, 0, np.pi, points=[np.pi / 2], limit=200)[0]
    return -(np.log(2 * np.cosh(2 * beta)) + integral / (2 * np.pi)) / beta


def test_critical_point():
    assert abs(float(onsager_critical_beta()) - 0.4406868) < 1e-7
    assert abs(1 / float(onsager_critical_beta()) - 2.2691853) < 1e-6
    assert abs(float(onsager_critical_beta(2.0)) - CRITICAL_BETA / 2) < 1e-7
    np.testing.assert_allclose(onsager_internal_energy(CRITICAL_BETA), -np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(onsager_magnetization(CRITICAL_BETA), 0.0, atol=1e-6)


@pytest.mark.parametrize("beta", BETAS)
def test_matches_float64_references(beta):
    np.testing.assert_allclose(
        onsager_internal_energy(beta), reference_internal_energy(beta), rtol=2e-5
    )
    np.testing.assert_allclose(onsager_free_energy(beta), reference_free_energy(beta), rtol=2e-6)


@pytest.mark.parametrize("beta", [0.2, 0.35, 0.55, 0.8])
def test_energy_is_the_derivative_of_beta_f(beta):
    # u = d(beta f)/d beta: central differences with Richardson extrapolation (error
    # O(step^4), float32 rounding ~1e-5 at step 1e-2), and autodiff.
    def central(step):
        beta_f = lambda b: float(b * onsager_free_energy(b))
        return (beta_f(beta + step) - beta_f(beta - step)) / (2 * step)

    numerical = (4 * central(1e-2) - central(2e-2)) / 3
    np.testing.assert_allclose(onsager_internal_energy(beta), numerical, rtol=1e-4)
    automatic = jax.grad(lambda b: b * onsager_free_energy(b))(beta)
    np.testing.assert_allclose(onsager_internal_energy(beta), automatic, rtol=2e-5)


def test_heat_capacity_is_minus_beta_squared_du_dbeta():
    betas = np.array([0.2, 0.35, 0.55, 0.8])
    step = 1e-3
    numerical = (
        -(betas**2)
        * (
            np.asarray(onsager_internal_energy(betas + step))
            - np.asarray(onsager_internal_energy(betas - step))
        )
        / (2 * step)
    )
    np.testing.assert_allclose(onsager_heat_capacity(betas), numerical, rtol=2e-3)
    # Largest near beta_c (logarithmic divergence).
    near = onsager_heat_capacity(jnp.array([0.40, CRITICAL_BETA - 1e-3, 0.48]))
    assert float(near[1]) > 2 * max(float(near[0]), float(near[2]))


def test_magnetization_and_limits():
    np.testing.assert_allclose(
        onsager_magnetization(0.5), (1 - np.sinh(1.0) ** -4) ** 0.125, rtol=1e-6
    )
    np.testing.assert_array_equal(onsager_magnetization(jnp.array([0.1, 0.3, 0.44])), 0.0)
    assert float(onsager_magnetization(2.0)) > 0.9999
    # Low temperature: u -> -2 (all bonds satisfied); high: f -> -ln 2 / beta.
    np.testing.assert_allclose(onsager_internal_energy(3.0), -2.0, atol=1e-6)
    np.testing.assert_allclose(onsager_free_energy(1e-3), -np.log(2) / 1e-3, rtol=1e-5)
    # Coupling J scales energies: u_J(beta) = J u_1(beta J).
    np.testing.assert_allclose(
        onsager_internal_energy(0.25, coupling=2.0), 2 * onsager_internal_energy(0.5), rtol=1e-6
    )
    np.testing.assert_allclose(elliptic_k(0.5), ellipk(0.25), rtol=1e-6)


def test_vectorised_and_jitted():
    betas = jnp.linspace(0.2, 0.8, 7)
    np.testing.assert_allclose(
        jax.jit(onsager_internal_energy)(betas),
        [float(onsager_internal_energy(b)) for b in betas],
        rtol=1e-6,
    )
    assert onsager_free_energy(betas).shape == (7,)
