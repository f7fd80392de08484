"""Finite-size scaling recovers the 2-D Ising exponents nu = 1 and gamma/nu = 7/4.

Synthetic data (sampling four sizes near T_c is beyond the suite's budget): the
exact scaling forms ``U_4 = F(x)`` and ``chi = L^{7/4} G(x)``, ``x = (T - T_c) L``,
with Gaussian noise of 0.5 % (fixed seed). Tolerance: ``K = 4`` standard errors
of the fit's covariance. The real check: Binder cumulants of the 2x2 and 4x4
lattices by exact enumeration, whose crossing :func:`binder_crossing` must find
to the accuracy of linear interpolation on the grid.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy.ising import square_ising
from statjax.thermo.onsager import CRITICAL_BETA
from statjax.thermo.scaling import binder_crossing, scaling_collapse

K = 4.0
T_C = 1.0 / CRITICAL_BETA
SIZES = np.array([8, 16, 32, 64])


def _synthetic(seed):
    rng = np.random.default_rng(seed)
    # Per size, temperatures inside the scaling window |x| <= 2.
    temperatures = T_C + np.linspace(-2.0, 2.0, 11)[None, :] / SIZES[:, None]
    x = (temperatures - T_C) * SIZES[:, None]
    binder = 0.61 - 0.12 * x + 0.01 * x**2 + 0.004 * x**3
    chi = SIZES[:, None] ** 1.75 * 0.05 * np.exp(-0.2 * (x - 0.5) ** 2)
    noisy = [v * (1 + 0.005 * rng.standard_normal(v.shape)) for v in (binder, chi)]
    return temperatures, noisy, [0.005 * np.abs(v) for v in (binder, chi)]


def test_collapse_recovers_the_ising_exponents():
    temperatures, (binder, chi), (binder_error, chi_error) = _synthetic(0)
    fit = scaling_collapse(
        SIZES,
        temperatures,
        binder,
        binder_error,
        critical_temperature=2.3,
        nu=0.8,
        fit_exponent=False,
    )
    assert abs(fit.critical_temperature - T_C) < K * fit.errors[0]
    assert abs(fit.nu - 1.0) < K * fit.errors[1]
    assert fit.errors[1] < 0.05 and fit.exponent == 0.0
    fit = scaling_collapse(
        SIZES,
        temperatures,
        chi,
        chi_error,
        critical_temperature=2.3,
        nu=0.8,
        exponent=1.5,
        degree=6,
    )
    assert abs(fit.nu - 1.0) < K * fit.errors[1]
    assert abs(fit.exponent - 1.75) < K * fit.errors[2]
    assert fit.errors[2] < 0.05
    assert 0.3 < fit.reduced_chi2 < 3.0


def test_binder_crossing_of_exactly_enumerated_lattices():
    temperatures = np.linspace(1.5, 4.0, 26)
    betas = jnp.asarray(1.0 / temperatures)
    binder = {}
    for size in (2, 4):
        exact = statjax.thermo.exact_thermodynamics(
            square_ising(size),
            betas,
            observable=lambda s: jnp.stack([jnp.sum(s) ** 2, jnp.sum(s) ** 4]).astype(jnp.float32),
        )
        m2, m4 = np.asarray(exact.observables).T
        binder[size] = 1.0 - m4 / (3.0 * m2**2)
    crossing = binder_crossing(temperatures, binder[2], binder[4])
    assert temperatures[0] < crossing < temperatures[-1]
    # At the crossing the two exact curves agree to the accuracy of linear interpolation.
    at = [np.interp(crossing, temperatures, binder[size]) for size in (2, 4)]
    assert abs(at[0] - at[1]) < 1e-6
    assert np.isnan(binder_crossing(temperatures, binder[2], binder[2] + 1.0))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="errors"):
        scaling_collapse(
            SIZES, np.ones(3), np.ones((4, 3)), np.zeros((4, 3)), critical_temperature=2.0
        )
    with pytest.raises(ValueError, match="num_sizes"):
        scaling_collapse(
            SIZES, np.ones(3), np.ones((3, 3)), np.ones((3, 3)), critical_temperature=2.0
        )
