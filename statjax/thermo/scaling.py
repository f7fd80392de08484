r"""Finite-size scaling: Binder crossings and exponents by a scaling-collapse fit.

Near a continuous transition an observable of a system of linear size ``L``
obeys (Fisher & Barber 1972; Binder 1981, Z. Phys. B 43, 119)

.. math::

    O(L, T) = L^{a} \, \mathcal{F}\big((T - T_c) L^{1/\nu}\big),

with ``a = 0`` for the Binder cumulant ``U_4`` (so the curves of different ``L``
cross at ``T_c``), ``a = gamma / nu`` for the susceptibility, ``a = -beta / nu``
for the magnetization. For the 2-D Ising model ``nu = 1``, ``gamma / nu = 7/4``
(Onsager 1944; exact).

:func:`binder_crossing` finds where two ``U_4(T)`` curves cross (linear
interpolation between the grid temperatures). :func:`scaling_collapse` fits
``T_c``, ``nu`` and ``a`` by least squares with the unknown scaling function
written as a polynomial of degree ``degree`` in ``x = (T - T_c) L^{1/nu}``: the
residuals ``(O L^{-a} - P(x)) / (sigma L^{-a})`` are minimised over the three
exponents, the polynomial's coefficients being solved exactly (weighted linear
least squares) for every trial exponent (variable projection; Golub & Pereyra
1973). **Errors** come from the fit's covariance, ``(J^T J)^{-1}`` of the
projected residuals, scaled by ``chi^2 / dof`` when that exceeds 1; they are
statistical only (corrections to scaling are not modelled: use sizes and
temperatures close enough to ``T_c``).
"""

from typing import NamedTuple

import numpy as np
from scipy.optimize import least_squares  # type: ignore[import-untyped]


def binder_crossing(
    temperatures: np.ndarray, binder_small: np.ndarray, binder_large: np.ndarray
) -> float:
    """First temperature where ``U_4(large) - U_4(small)`` turns from >= 0 to < 0 (linear).

    Below ``T_c`` the larger system is more ordered (``U_4 -> 2/3``), above it
    less (``U_4 -> 0``): the difference changes sign at the crossing. NaN if it
    does not on the grid.

    Example:
        >>> import numpy as np
        >>> t = np.array([2.0, 2.2, 2.4])
        >>> binder_crossing(t, np.array([0.6, 0.5, 0.4]), np.array([0.65, 0.5, 0.3]))
        2.2
    """
    temperatures = np.asarray(temperatures, np.float64)
    difference = np.asarray(binder_large, np.float64) - np.asarray(binder_small, np.float64)
    signs = np.flatnonzero((difference[:-1] >= 0) & (difference[1:] < 0))
    if signs.size == 0:
        return float("nan")
    i = signs[0]
    if difference[i] == 0:
        return float(temperatures[i])
    fraction = difference[i] / (difference[i] - difference[i + 1])
    return float(temperatures[i] + fraction * (temperatures[i + 1] - temperatures[i]))


class ScalingCollapse(NamedTuple):
    """A scaling-collapse fit (module docstring).

    Attributes:
        critical_temperature: ``T_c``.
        nu: the correlation-length exponent.
        exponent: ``a`` (``gamma / nu`` for the susceptibility; 0 when held fixed).
        errors: ``(3,)`` standard errors of ``(T_c, nu, a)`` (0 for a fixed ``a``).
        reduced_chi2: ``chi^2 / dof`` of the collapse.
        coefficients: the scaling function's polynomial coefficients (``np.polyval`` order).
    """

    critical_temperature: float
    nu: float
    exponent: float
    errors: np.ndarray
    reduced_chi2: float
    coefficients: np.ndarray


def scaling_collapse(
    sizes: np.ndarray,
    temperatures: np.ndarray,
    values: np.ndarray,
    errors: np.ndarray,
    *,
    critical_temperature: float,
    nu: float = 1.0,
    exponent: float | None = 0.0,
    fit_exponent: bool = True,
    degree: int = 4,
) -> ScalingCollapse:
    """Fit ``O(L, T) = L^a F((T - T_c) L^{1/nu})`` to data at several ``L`` and ``T``.

    Args:
        sizes: ``(num_sizes,)`` linear sizes ``L``.
        temperatures: ``(num_temperatures,)`` shared, or ``(num_sizes, num_temperatures)``.
        values: ``(num_sizes, num_temperatures)`` the observable.
        errors: the same shape, one standard error each (> 0).
        critical_temperature: starting guess for ``T_c``.
        nu: starting guess for ``nu``.
        exponent: starting guess for ``a`` (or its value when ``fit_exponent=False``).
        fit_exponent: fit ``a`` too (susceptibility), or hold it (Binder: ``a = 0``).
        degree: degree of the scaling function's polynomial.

    Returns:
        A :class:`ScalingCollapse`.

    Example:
        >>> import numpy as np
        >>> sizes, t = np.array([8, 16, 32]), np.linspace(2.2, 2.34, 8)
        >>> x = (t[None] - 2.269) * sizes[:, None]
        >>> chi = sizes[:, None] ** 1.75 * (1.0 - 0.1 * x + 0.01 * x**2)
        >>> fit = scaling_collapse(sizes, t, chi, 0.01 * chi, critical_temperature=2.3,
        ...                        exponent=1.5)
        >>> round(fit.nu, 3), round(fit.exponent, 3)
        (1.0, 1.75)
    """
    sizes = np.asarray(sizes, np.float64)
    values = np.asarray(values, np.float64)
    sigma = np.asarray(errors, np.float64)
    temperatures = np.broadcast_to(np.asarray(temperatures, np.float64), values.shape)
    if values.ndim != 2 or values.shape[0] != sizes.size or sigma.shape != values.shape:
        raise ValueError(
            f"values and errors must be (num_sizes = {sizes.size}, num_temperatures), got "
            f"{values.shape} and {sigma.shape}."
        )
    if not (np.all(np.isfinite(values)) and np.all(sigma > 0) and np.all(np.isfinite(sigma))):
        raise ValueError("values must be finite and errors finite and > 0.")
    lengths = np.broadcast_to(sizes[:, None], values.shape)
    fixed_exponent = 0.0 if exponent is None else float(exponent)

    def unpack(parameters):
        t_c, inverse_nu = parameters[0], parameters[1]
        a = parameters[2] if fit_exponent else fixed_exponent
        return t_c, inverse_nu, a

    def residuals(parameters, return_coefficients=False):
        t_c, inverse_nu, a = unpack(parameters)
        x = ((temperatures - t_c) * lengths**inverse_nu).ravel()
        scale = (lengths ** (-a)).ravel()
        y, weight = values.ravel() * scale, 1.0 / (sigma.ravel() * scale)
        design = np.vander(x, degree + 1)
        coefficients = np.linalg.lstsq(design * weight[:, None], y * weight, rcond=None)[0]
        if return_coefficients:
            return coefficients
        return (y - design @ coefficients) * weight

    # Fit 1/nu (the scaling variable is linear in it), report nu.
    start = [critical_temperature, 1.0 / nu] + ([fixed_exponent] if fit_exponent else [])
    fit = least_squares(residuals, np.asarray(start, np.float64), x_scale="jac")
    dof = max(values.size - (degree + 1) - len(start), 1)
    reduced_chi2 = float(np.sum(fit.fun**2) / dof)
    covariance = np.linalg.pinv(fit.jac.T @ fit.jac) * max(1.0, reduced_chi2)
    standard = np.sqrt(np.diag(covariance))
    t_c, inverse_nu, a = unpack(fit.x)
    errors_out = np.array(
        [standard[0], standard[1] / inverse_nu**2, standard[2] if fit_exponent else 0.0]
    )
    return ScalingCollapse(
        float(t_c),
        float(1.0 / inverse_nu),
        float(a),
        errors_out,
        reduced_chi2,
        residuals(fit.x, return_coefficients=True),
    )


__all__ = ["ScalingCollapse", "binder_crossing", "scaling_collapse"]
