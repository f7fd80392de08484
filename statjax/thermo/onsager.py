"""Onsager's exact solution of the 2-D Ising model on the infinite square lattice.

For ``E = -J sum_<ij> s_i s_j`` (zero field) with ``K = beta J`` (Onsager 1944,
"Crystal statistics. I.", Phys. Rev. 65, 117; the magnetization: Yang 1952,
Phys. Rev. 85, 808; forms as in Huang, "Statistical Mechanics", 1987, §15.4):

- critical point ``sinh(2 K_c) = 1``, i.e. ``beta_c J = ln(1 + sqrt 2) / 2 ≈ 0.4406868``;
- free energy per spin,
  ``-beta f = ln(2 cosh 2K) + (1 / 2pi) int_0^pi ln[(1 + sqrt(1 - k^2 sin^2 phi)) / 2] dphi``
  with ``k = 2 sinh 2K / cosh^2 2K``;
- internal energy per spin,
  ``u = -J coth 2K [1 + (2 / pi)(2 tanh^2 2K - 1) K_1(k)]``, ``K_1`` the complete
  elliptic integral of the first kind (modulus ``k``); ``u(beta_c) = -sqrt 2 J``;
- spontaneous magnetization per spin ``m = (1 - sinh^-4 2K)^(1/8)`` for
  ``beta > beta_c``, zero above ``T_c``;
- heat capacity per spin ``c = -beta^2 du / dbeta``, here by automatic
  differentiation of ``u``; it diverges logarithmically at ``beta_c``.

Every function is jit- and vmap-safe and differentiable in ``beta`` (away from
``beta_c``). The free-energy integral uses Gauss–Legendre quadrature on
``[0, pi/2]`` (the integrand is symmetric about ``pi/2``); ``K_1`` uses the
arithmetic–geometric mean, ``K_1(k) = pi / (2 AGM(1, sqrt(1 - k^2)))``, which is
exact to rounding in a few iterations.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

CRITICAL_BETA = math.log(1.0 + math.sqrt(2.0)) / 2.0
"""``beta_c`` for ``J = 1``: ``ln(1 + sqrt 2) / 2 = 0.44068679...``."""

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(256)
_AGM_ITERATIONS = 12  # quadratic convergence: 12 rounds reach double precision from k ~ 1 - 1e-30


def onsager_critical_beta(coupling: ArrayLike = 1.0) -> jax.Array:
    """``beta_c = ln(1 + sqrt 2) / (2 J)`` (Kramers & Wannier 1941; Onsager 1944).

    Examples:
        >>> beta_c = float(onsager_critical_beta())
        >>> print(round(beta_c, 7), round(1 / beta_c, 4))
        0.4406868 2.2692
    """
    return CRITICAL_BETA / jnp.asarray(coupling, float)


def _modulus(reduced_beta: jax.Array) -> jax.Array:
    """``k = 2 sinh 2K / cosh^2 2K``, in [0, 1], equal to 1 at ``K_c``."""
    return 2.0 * jnp.sinh(2.0 * reduced_beta) / jnp.cosh(2.0 * reduced_beta) ** 2


def elliptic_k(modulus: ArrayLike) -> jax.Array:
    """Complete elliptic integral of the first kind, modulus ``k`` (not ``m = k^2``).

    ``K(k) = int_0^{pi/2} dphi / sqrt(1 - k^2 sin^2 phi)``.

    By the arithmetic–geometric mean, ``K(k) = pi / (2 AGM(1, sqrt(1 - k^2)))``
    (Abramowitz & Stegun 17.6); ``+inf`` at ``k = 1``.

    Examples:
        >>> print(round(float(elliptic_k(0.0)), 6))  # pi / 2
        1.570796
    """
    modulus = jnp.asarray(modulus, float)
    return _elliptic_k_of_complement(jnp.sqrt(jnp.maximum(1.0 - modulus**2, 0.0)))


def _elliptic_k_of_complement(complement: jax.Array) -> jax.Array:
    """``K`` from the complementary modulus ``k' = sqrt(1 - k^2)``: ``pi / (2 AGM(1, k'))``."""
    a, b = jnp.ones_like(complement), complement
    for _ in range(_AGM_ITERATIONS):
        a, b = (a + b) / 2.0, jnp.sqrt(a * b)
    # AGM(1, 0) = 0, but a finite number of rounds only halves `a`: K(1) = inf explicitly.
    return jnp.where(complement > 0, jnp.pi / (2.0 * a), jnp.inf)


def onsager_free_energy(beta: ArrayLike, coupling: ArrayLike = 1.0) -> jax.Array:
    """Free energy per spin ``f(beta)`` of the infinite square-lattice Ising model.

    ``-beta f = ln(2 cosh 2K) + (1/pi) int_0^{pi/2} ln[(1 + sqrt(1 - k^2 sin^2 phi)) / 2] dphi``,
    ``K = beta J`` (Onsager 1944). ``beta`` of any shape.

    Examples:
        >>> print(round(float(onsager_free_energy(onsager_critical_beta())), 4))
        -2.1097
    """
    beta = jnp.asarray(beta, float)
    reduced = beta * coupling
    k = _modulus(reduced)[..., None]
    phi = jnp.pi / 4.0 * (jnp.asarray(_NODES, beta.dtype) + 1.0)
    weights = jnp.pi / 4.0 * jnp.asarray(_WEIGHTS, beta.dtype)
    integrand = jnp.log((1.0 + jnp.sqrt(jnp.maximum(1.0 - k**2 * jnp.sin(phi) ** 2, 0.0))) / 2.0)
    integral = jnp.sum(weights * integrand, axis=-1) / jnp.pi
    return -(jnp.log(2.0 * jnp.cosh(2.0 * reduced)) + integral) / beta


def onsager_internal_energy(beta: ArrayLike, coupling: ArrayLike = 1.0) -> jax.Array:
    """Internal energy per spin ``u(beta)`` of the infinite square-lattice Ising model.

    ``u = -J coth 2K [1 + (2/pi)(2 tanh^2 2K - 1) K_1(k)]``, ``K = beta J``; at
    ``beta_c`` the product ``(2 tanh^2 2K - 1) K_1(k)`` vanishes and ``u = -sqrt 2 J``.

    Examples:
        >>> print(round(float(onsager_internal_energy(onsager_critical_beta())), 5))
        -1.41421
    """
    reduced = jnp.asarray(beta, float) * coupling
    two_k = 2.0 * reduced
    factor = 2.0 * jnp.tanh(two_k) ** 2 - 1.0
    # k' = sqrt(1 - k^2) = |1 - sinh^2 2K| / cosh^2 2K exactly, without the cancellation
    # of 1 - k^2 near beta_c.
    complement = jnp.abs(1.0 - jnp.sinh(two_k) ** 2) / jnp.cosh(two_k) ** 2
    elliptic = _elliptic_k_of_complement(complement)
    # factor -> 0 linearly and K_1 -> inf logarithmically at beta_c: the product is 0.
    product = jnp.where(jnp.isfinite(elliptic), factor * elliptic, 0.0)
    return -jnp.asarray(coupling) / jnp.tanh(two_k) * (1.0 + 2.0 / jnp.pi * product)


def onsager_heat_capacity(beta: ArrayLike, coupling: ArrayLike = 1.0) -> jax.Array:
    """Heat capacity per spin ``c = -beta^2 du/dbeta`` (``k_B = 1``), by autodiff of ``u``.

    Diverges as ``-(8 / pi) K_c^2 ln|1 - T / T_c|`` at ``T_c``; returns ``inf`` or a
    very large value there.

    Examples:
        >>> print(round(float(onsager_heat_capacity(0.3)), 3))
        0.286
    """
    beta = jnp.asarray(beta, float)
    derivative = jnp.vectorize(jax.grad(lambda b: onsager_internal_energy(b, coupling)))(beta)
    return -(beta**2) * derivative


def onsager_magnetization(beta: ArrayLike, coupling: ArrayLike = 1.0) -> jax.Array:
    """Spontaneous magnetization per spin ``m = (1 - sinh(2K)^-4)^(1/8)`` below ``T_c``, else 0.

    Onsager (1949, announced), Yang (1952). ``K = beta J``.

    Examples:
        >>> print(round(float(onsager_magnetization(0.5)), 4), float(onsager_magnetization(0.3)))
        0.9113 0.0
    """
    reduced = jnp.asarray(beta, float) * coupling
    inverse_fourth = jnp.sinh(2.0 * reduced) ** -4.0
    return jnp.where(inverse_fourth < 1.0, jnp.maximum(1.0 - inverse_fourth, 0.0) ** 0.125, 0.0)


__all__ = [
    "CRITICAL_BETA",
    "elliptic_k",
    "onsager_critical_beta",
    "onsager_free_energy",
    "onsager_heat_capacity",
    "onsager_internal_energy",
    "onsager_magnetization",
]
