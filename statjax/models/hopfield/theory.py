r"""The replica-symmetric mean-field theory of Amit, Gutfreund & Sompolinsky (AGS).

The retrieval branch ``m(alpha, T)`` of the Hebbian Hopfield network up to the
critical load ``alpha_c(T)`` (AGS 1985, PRL 55, 1530; 1987, Ann. Phys. 173, 30):
:func:`ags_branch`, :func:`ags_overlap` and :func:`ags_critical_load`
(``alpha_c = 0.138`` with ``m = 0.967`` at ``T = 0``), the reference that
:func:`statjax.models.hopfield.capacity_curve` measures finite networks against.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax.anneal.schedules import temperature_to_beta

AGS_CRITICAL_LOAD = 0.138
"""Zero-temperature storage capacity of the Hebbian Hopfield network (AGS 1985)."""

# A fine uniform grid, not Gauss-Hermite nodes: at low T, tanh(beta (m + sigma z))
# switches within 1 / (beta sigma) in z, narrower than the nodes' spacing.
_GAUSS_NODES = np.linspace(-8.0, 8.0, 2001)
_GAUSS_WEIGHTS = np.exp(-0.5 * _GAUSS_NODES**2) / np.sum(np.exp(-0.5 * _GAUSS_NODES**2))


class AGSBranch(NamedTuple):
    """The retrieval branch of the replica-symmetric AGS equations, up to ``alpha_c``.

    Attributes:
        loads: ``(K,)`` increasing loads ``alpha``, ending at ``alpha_c(T)``.
        overlaps: ``(K,)`` retrieval overlaps ``m`` at those loads.
    """

    loads: np.ndarray
    overlaps: np.ndarray


@partial(jax.jit, static_argnames=("num_iterations",))
def _finite_temperature_branch(beta, widths, *, num_iterations):
    nodes, weights = jnp.asarray(_GAUSS_NODES), jnp.asarray(_GAUSS_WEIGHTS)

    def averages(m):
        values = jnp.tanh(beta * (m[:, None] + widths[:, None] * nodes))
        return values @ weights, values**2 @ weights

    # For a fixed noise width the m-equation is a contraction from m = 1 onto its
    # largest root (as in the Curie-Weiss model).
    m = jax.lax.fori_loop(0, num_iterations, lambda _, m: averages(m)[0], jnp.ones_like(widths))
    q = averages(m)[1]
    return widths**2 * (1.0 - beta * (1.0 - q)) ** 2 / q, m


def ags_branch(temperature: float, num_points: int = 1000) -> AGSBranch:
    r"""Retrieval overlap against load in the replica-symmetric theory of AGS (1985, 1987).

    The saddle point of Amit, Gutfreund & Sompolinsky (1985, PRL 55, 1530, eqs. 4-6),

    .. math::

        m = \langle \tanh \beta(m + \sigma z) \rangle_z, \quad
        q = \langle \tanh^2 \beta(m + \sigma z) \rangle_z, \quad
        \sigma^2 = \alpha r = \frac{\alpha q}{(1 - \beta (1 - q))^2},

    ``z ~ N(0, 1)``. Iterating it in ``(m, q)`` is unstable at low ``T``, so the
    branch is traced by the noise width ``sigma`` instead: for each ``sigma`` the
    ``m`` equation is solved (Gaussian average on a grid of step 0.008) and the load
    follows explicitly, ``alpha = sigma^2 (1 - beta (1 - q))^2 / q``. At ``T = 0``
    with ``y = m / (sqrt 2 sigma)``: ``m = erf y`` and
    ``sqrt(2 alpha) y = erf y - (2 / sqrt pi) y exp(-y^2)``. The load rises with
    ``sigma`` to its maximum ``alpha_c(T)`` (``0.138`` at ``T = 0``, where
    ``m = 0.967``) and the branch stops there: beyond it there is no retrieval
    solution.

    Args:
        temperature: ``T >= 0`` (a Python float); meant for ``T`` below about 0.5.
        num_points: points along the branch.

    Returns:
        An :class:`AGSBranch`.

    Examples:
        >>> branch = ags_branch(0.0)
        >>> print(round(float(branch.loads[-1]), 4), round(float(branch.overlaps[-1]), 3))
        0.1379 0.967
    """
    beta = float(temperature_to_beta(float(temperature)))
    if np.isinf(beta):  # T = 0: the closed form
        y = np.linspace(30.0, 0.3, 20 * num_points)
        erf_y = np.asarray(jax.scipy.special.erf(jnp.asarray(y)), dtype=float)
        loads = (erf_y - 2.0 / np.sqrt(np.pi) * y * np.exp(-(y**2))) ** 2 / (2.0 * y**2)
        overlaps = erf_y
    else:
        widths = jnp.linspace(1e-4, 1.2, num_points, dtype=jnp.float32)
        loads, overlaps = _finite_temperature_branch(jnp.float32(beta), widths, num_iterations=200)
        loads, overlaps = np.asarray(loads, float), np.asarray(overlaps, float)
    # The retrieval branch ends at the first maximum of the load; past it lie the
    # unstable branch and, once m = 0, the spin-glass solutions.
    falling = np.flatnonzero(np.diff(loads) < 0)
    peak = int(falling[0]) if falling.size else loads.size - 1
    return AGSBranch(loads[: peak + 1], overlaps[: peak + 1])


def ags_overlap(load: ArrayLike, temperature: float) -> np.ndarray:
    """AGS retrieval overlap ``m(alpha, T)`` (:func:`ags_branch`), 0 above ``alpha_c(T)``.

    Args:
        load: ``alpha > 0``, any shape.
        temperature: ``T >= 0``.

    Returns:
        ``m``, the shape of ``load`` (linear interpolation along the branch).

    Examples:
        >>> print(round(float(ags_overlap(0.1, 0.0)), 3), float(ags_overlap(0.15, 0.0)))
        0.998 0.0
    """
    load = np.asarray(load, dtype=float)
    if not np.all(load > 0):
        raise ValueError(f"load must be > 0, got {load.ravel()[:5].tolist()}.")
    branch = ags_branch(temperature)
    overlap = np.interp(load, branch.loads, branch.overlaps)
    return np.where(load <= branch.loads[-1], overlap, 0.0)


def ags_critical_load(temperature: float) -> float:
    """``alpha_c(T)``, the largest load with a retrieval solution in AGS theory.

    Examples:
        >>> round(ags_critical_load(0.0), 3)
        0.138
    """
    return float(ags_branch(temperature).loads[-1])


__all__ = ["AGS_CRITICAL_LOAD", "AGSBranch", "ags_branch", "ags_critical_load", "ags_overlap"]
