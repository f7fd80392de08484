r"""Thermodynamic integration (TI): ``log Z`` from energy averages along a path.

Kirkwood (1935); Gelman & Meng (1998), "Simulating normalizing constants: from
importance sampling to bridge sampling to path sampling", Statistical Science 13.
Along the temperature path of one energy,

.. math::

    \frac{d \log Z}{d\beta} = -\langle E \rangle_\beta, \qquad
    \log Z(\beta_K) - \log Z(\beta_0) = -\int_{\beta_0}^{\beta_K} \langle E \rangle_\beta\, d\beta,

and along the geometric path ``E_b = (1 - b) E_0 + b E_1`` (at ``beta = 1``),
``d log Z_b / db = -<E_1 - E_0>_b``: the same integral with ``b`` for ``beta``
and ``<E_1 - E_0>_b`` for ``<E>``. The integral is a quadrature over a grid of
estimated averages, so its error has two parts, both reported by
:func:`thermodynamic_integration`:

- statistical: independent Monte-Carlo errors ``s_k`` of the averages,
  propagated through the quadrature weights ``w_k``: ``sqrt(sum_k w_k^2 s_k^2)``;
- discretisation: ``|Simpson - trapezoid|``, the size of the trapezoid rule's
  leading error term (Simpson's rule is two orders more accurate for a smooth
  integrand, so this is a conservative estimate for the Simpson result).

With ``log Z``, the internal energy ``U = <E>`` and ``beta``, the free energy is
``F = -log Z / beta`` and the entropy ``S = beta (U - F) = beta U + log Z``
(in units of ``k_B``).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

QUADRATURE_RULES = ("trapezoid", "simpson")


class ThermodynamicIntegration(NamedTuple):
    """A TI estimate of ``log Z(beta_K) - log Z(beta_0)`` (plus ``base_log_z``).

    Attributes:
        log_z: the estimate with the chosen rule.
        statistical_error: Monte-Carlo standard error propagated through the rule
            (0 when no per-point errors were given).
        discretisation_error: ``|Simpson - trapezoid|`` over the grid.
        log_z_path: ``(K + 1,)`` cumulative trapezoid estimate ``log Z(beta_k)``
            at every grid point (``base_log_z`` at the first).
    """

    log_z: jax.Array
    statistical_error: jax.Array
    discretisation_error: jax.Array
    log_z_path: jax.Array


def trapezoid_weights(points: jax.typing.ArrayLike) -> jax.Array:
    """Weights ``w`` with ``int f ~ sum_k w_k f(x_k)`` by the trapezoid rule, ``(K + 1,)``.

    Examples:
        >>> print(trapezoid_weights([0.0, 1.0, 3.0]))
        [0.5 1.5 1. ]
    """
    points = jnp.asarray(points, dtype=float)
    widths = jnp.diff(points)
    return 0.5 * (jnp.concatenate([widths, jnp.zeros(1)]) + jnp.concatenate([jnp.zeros(1), widths]))


def simpson_weights(points: jax.typing.ArrayLike) -> jax.Array:
    """Weights of composite Simpson's rule on any increasing grid of >= 3 points.

    Each pair of intervals ``[x0, x1, x2]`` with widths ``h0, h1`` integrates the
    parabola through its three points:
    ``(h0 + h1) / 6 [(2 - h1/h0) f0 + (h0 + h1)^2 / (h0 h1) f1 + (2 - h0/h1) f2]``.
    With an odd number of intervals the last one integrates the parabola through
    the last three points (the rule of ``scipy.integrate.simpson``).

    Examples:
        >>> print(simpson_weights([0.0, 1.0, 2.0]) * 3)
        [1. 4. 1.]
    """
    x = np.asarray(points, dtype=float)
    if x.ndim != 1 or x.size < 3:
        raise ValueError(f"Simpson's rule needs at least 3 points, got shape {x.shape}.")
    weights = np.zeros_like(x)
    num_intervals = x.size - 1
    for start in range(0, num_intervals - 1, 2):
        h0, h1 = x[start + 1] - x[start], x[start + 2] - x[start + 1]
        total = (h0 + h1) / 6.0
        weights[start] += total * (2.0 - h1 / h0)
        weights[start + 1] += total * (h0 + h1) ** 2 / (h0 * h1)
        weights[start + 2] += total * (2.0 - h0 / h1)
    if num_intervals % 2:
        h0, h1 = x[-2] - x[-3], x[-1] - x[-2]
        weights[-1] += (2.0 * h1**2 + 3.0 * h0 * h1) / (6.0 * (h0 + h1))
        weights[-2] += (h1**2 + 3.0 * h0 * h1) / (6.0 * h0)
        weights[-3] -= h1**3 / (6.0 * h0 * (h0 + h1))
    return jnp.asarray(weights)


def thermodynamic_integration(
    betas: jax.typing.ArrayLike,
    mean_energies: jax.typing.ArrayLike,
    standard_errors: jax.typing.ArrayLike | None = None,
    *,
    base_log_z: jax.typing.ArrayLike = 0.0,
    rule: str = "simpson",
) -> ThermodynamicIntegration:
    r"""``log Z(beta_K) = log Z(beta_0) - int <E>_beta dbeta`` by quadrature, with errors.

    .. math::

        \widehat{\log Z} = \log Z(\beta_0) - \sum_k w_k \bar E_k, \qquad
        \sigma_{\rm stat} = \Big(\sum_k w_k^2 s_k^2\Big)^{1/2},

    ``w_k`` the trapezoid or Simpson weights on the grid, ``\bar E_k`` the estimated
    averages and ``s_k`` their standard errors (independent runs per grid point).
    The discretisation error is estimated by ``|Simpson - trapezoid|``. For the
    geometric path pass the fractions ``b_k`` and ``<E_1 - E_0>_{b_k}``.

    Args:
        betas: ``(K + 1,)`` strictly increasing grid (``K >= 2``).
        mean_energies: ``(K + 1,)`` ``<E>`` at each grid point.
        standard_errors: ``(K + 1,)`` Monte-Carlo standard errors of ``mean_energies``.
        base_log_z: ``log Z(beta_0)``; 0 gives the difference.
        rule: ``"simpson"`` (default) or ``"trapezoid"``.

    Returns:
        A :class:`ThermodynamicIntegration`.

    Examples:
        >>> import jax.numpy as jnp
        >>> betas = jnp.linspace(0.5, 2.0, 9)  # 1-D harmonic well: <E> = 1 / (2 beta)
        >>> ti = thermodynamic_integration(betas, 0.5 / betas)
        >>> print(round(float(ti.log_z), 4), round(float(-0.5 * jnp.log(4.0)), 4))
        -0.6934 -0.6931
    """
    if rule not in QUADRATURE_RULES:
        raise ValueError(f"rule must be one of {QUADRATURE_RULES}, got {rule!r}.")
    grid = np.asarray(betas, dtype=float)
    if grid.ndim != 1 or grid.size < 3 or not np.all(np.diff(grid) > 0):
        raise ValueError(
            f"betas must be a strictly increasing 1-D grid of at least 3 points, got {grid}."
        )
    mean_energies = jnp.asarray(mean_energies, dtype=float)
    if mean_energies.shape != grid.shape:
        raise ValueError(
            f"mean_energies must have shape {grid.shape} (one per beta), got {mean_energies.shape}."
        )
    trapezoid, simpson = trapezoid_weights(grid), simpson_weights(grid)
    weights = simpson if rule == "simpson" else trapezoid
    if standard_errors is None:
        statistical = jnp.zeros(())
    else:
        standard_errors = jnp.asarray(standard_errors, dtype=float)
        if standard_errors.shape != grid.shape:
            raise ValueError(
                f"standard_errors must have shape {grid.shape}, got {standard_errors.shape}."
            )
        statistical = jnp.sqrt(jnp.sum(weights**2 * standard_errors**2))
    discretisation = jnp.abs(jnp.dot(simpson - trapezoid, mean_energies))
    widths = jnp.diff(jnp.asarray(grid))
    steps = 0.5 * widths * (mean_energies[1:] + mean_energies[:-1])
    base_log_z = jnp.asarray(base_log_z)
    path = base_log_z - jnp.concatenate([jnp.zeros(1), jnp.cumsum(steps)])
    log_z = base_log_z - jnp.dot(weights, mean_energies)
    return ThermodynamicIntegration(log_z, statistical, discretisation, path)


def free_energy(log_z: jax.typing.ArrayLike, beta: jax.typing.ArrayLike) -> jax.Array:
    """Helmholtz free energy ``F = -log Z / beta``.

    Examples:
        >>> float(free_energy(2.0, 0.5))
        -4.0
    """
    return -jnp.asarray(log_z) / jnp.asarray(beta)


def entropy_from_free_energy(
    beta: jax.typing.ArrayLike, internal_energy: jax.typing.ArrayLike, log_z: jax.typing.ArrayLike
) -> jax.Array:
    """Entropy ``S = beta (U - F) = beta U + log Z`` (units of ``k_B``), ``U = <E>_beta``.

    Examples:
        >>> import jax.numpy as jnp  # 1-D harmonic well at beta = 1: S = 1/2 + log sqrt(2 pi)
        >>> print(round(float(entropy_from_free_energy(1.0, 0.5, 0.5 * jnp.log(2 * jnp.pi))), 4))
        1.4189
    """
    beta = jnp.asarray(beta)
    return beta * (jnp.asarray(internal_energy) - free_energy(log_z, beta))


__all__ = [
    "QUADRATURE_RULES",
    "ThermodynamicIntegration",
    "entropy_from_free_energy",
    "free_energy",
    "simpson_weights",
    "thermodynamic_integration",
    "trapezoid_weights",
]
