"""Thermodynamics of 1-D and 2-D landscapes by quadrature on a regular grid.

The reference against which samplers and estimators (AIS, thermodynamic
integration) are checked in low dimension. Integrals use the trapezoid rule on
a box, in log space, so that ``exp(-beta E)`` never overflows or underflows.
For an integrand that is analytic and negligible at the edges of the box (a
Boltzmann density whose box holds all its mass), the trapezoid rule converges
geometrically in the number of points (Trefethen & Weideman 2014, "The
exponentially convergent trapezoidal rule", SIAM Review 56, 385-458): its
error is then set by the mass outside the box and the floating-point
precision, not by the grid spacing, once the spacing is a fraction of the
narrowest well's width ``1 / sqrt(beta E'')``.

Every function evaluates the energy once per grid point with ``jax.vmap``:
``prod(num_points)`` evaluations and memory. Each is compiled once per energy
function and number of points: a new ``beta``, box, or landscape parameter
reuses the compiled program. ``beta`` and the energy's parameters may be traced
(``jit``, or ``vmap`` over ``beta`` for a whole curve ``log Z(beta)``); the box
and the number of points must be concrete, since they are checked.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from statjax._tree import as_pytree_fn
from statjax.pytree import guarded_jit
from statjax.types import ArrayTree, EnergyFn

BoxBound = float | Sequence[float]


def _check_beta(beta: ArrayLike) -> None:
    """Raise unless a concrete ``beta`` is a positive, finite scalar; a traced one passes."""
    try:
        value = np.asarray(beta, dtype=float)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return
    except (TypeError, ValueError) as error:
        raise TypeError(f"beta must be a number, got beta={beta!r}.") from error
    if value.ndim != 0:
        raise ValueError(
            f"beta must be a scalar, got shape {value.shape}; "
            "jax.vmap over beta for several temperatures."
        )
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"beta must be positive and finite, got beta={beta!r}.")


class _Grid(NamedTuple):
    """A validated box and the number of points per axis (static: it sets the shapes)."""

    lower: np.ndarray
    upper: np.ndarray
    num_points: tuple[int, ...]


def _check_grid(lower: BoxBound, upper: BoxBound, num_points: int | Sequence[int]) -> _Grid:
    """Validate the box and the number of points per axis."""
    lower_array, upper_array = np.atleast_1d(lower), np.atleast_1d(upper)
    for name, bound in (("lower", lower_array), ("upper", upper_array)):
        if bound.ndim != 1 or bound.size not in (1, 2):
            raise ValueError(
                f"{name} must have length 1 or 2 (a 1-D or 2-D box), got {name}={bound.tolist()}."
            )
        if not np.issubdtype(bound.dtype, np.number) or not np.all(np.isfinite(bound)):
            raise ValueError(f"{name} must hold finite numbers, got {name}={bound.tolist()}.")
    if lower_array.size != upper_array.size:
        raise ValueError(
            f"lower and upper must have the same length, got lower={lower_array.tolist()} "
            f"and upper={upper_array.tolist()}."
        )
    if np.any(lower_array >= upper_array):
        raise ValueError(
            f"lower must be below upper on every axis, got lower={lower_array.tolist()} "
            f"and upper={upper_array.tolist()}."
        )
    dim = lower_array.size
    # Any type may come in: the elements are checked just below.
    counts: tuple[Any, ...] = (
        (num_points,) * dim if np.ndim(num_points) == 0 else tuple(cast(Sequence, num_points))
    )
    if len(counts) != dim or not all(
        isinstance(count, int | np.integer) and not isinstance(count, bool) and count >= 2
        for count in counts
    ):
        raise ValueError(
            f"num_points must be an integer >= 2 or one per axis ({dim} here), "
            f"got num_points={num_points!r}."
        )
    return _Grid(
        lower_array.astype(float), upper_array.astype(float), tuple(int(c) for c in counts)
    )


def _trapezoid_rule(
    lower: jax.Array, upper: jax.Array, num_points: tuple[int, ...]
) -> tuple[tuple[jax.Array, ...], jax.Array, jax.Array]:
    """Axes, flattened points ``(N, dim)`` in 'ij' order, and log trapezoid weights ``(N,)``."""
    axes = tuple(jnp.linspace(lower[i], upper[i], count) for i, count in enumerate(num_points))
    log_weights_per_axis = []
    for i, count in enumerate(num_points):
        log_spacing = jnp.log((upper[i] - lower[i]) / (count - 1))
        # Trapezoid rule: weight h inside, h / 2 at the two ends.
        log_weights = jnp.full(count, log_spacing).at[jnp.array([0, -1])].add(-np.log(2.0))
        log_weights_per_axis.append(log_weights)
    mesh = jnp.meshgrid(*axes, indexing="ij")
    points = jnp.stack([coordinate.ravel() for coordinate in mesh], axis=-1)
    log_weight_mesh = jnp.asarray(
        sum(
            jnp.expand_dims(weights, [other for other in range(len(axes)) if other != axis])
            for axis, weights in enumerate(log_weights_per_axis)
        )
    )
    return axes, points, log_weight_mesh.ravel()


def _log_boltzmann_factors(energy_fn: EnergyFn, beta: ArrayLike, points: jax.Array) -> jax.Array:
    """``-beta E(x)`` at every grid point ``(N,)``."""
    energies = jax.vmap(energy_fn)(points)
    if energies.shape != points.shape[:1]:
        raise ValueError(
            f"energy_fn must return a scalar per position, got shape {energies.shape[1:]}."
        )
    return -jnp.asarray(beta) * energies


# One compiled program per energy function (class) and number of points. The energy travels
# as a pytree argument (as_pytree_fn), so that a landscape's parameters are traced
# leaves, and so are beta and the box: only a new function or grid size recompiles.
@guarded_jit(static_argnames="num_points")
def _log_z_on_grid(energy_fn, beta, lower, upper, num_points) -> jax.Array:
    _, points, log_weights = _trapezoid_rule(lower, upper, num_points)
    return jax.nn.logsumexp(_log_boltzmann_factors(energy_fn, beta, points) + log_weights)


@guarded_jit(static_argnames="num_points")
def _density_on_grid(energy_fn, beta, lower, upper, num_points):
    axes, points, log_weights = _trapezoid_rule(lower, upper, num_points)
    log_boltzmann = _log_boltzmann_factors(energy_fn, beta, points)
    log_z = jax.nn.logsumexp(log_boltzmann + log_weights)
    return axes, jnp.exp(log_boltzmann - log_z).reshape(num_points)


@guarded_jit(static_argnames="num_points")
def _expectation_on_grid(energy_fn, observable, beta, lower, upper, num_points) -> ArrayTree:
    _, points, log_weights = _trapezoid_rule(lower, upper, num_points)
    probabilities = jax.nn.softmax(_log_boltzmann_factors(energy_fn, beta, points) + log_weights)
    values = jax.vmap(observable)(points)
    return jax.tree_util.tree_map(lambda value: jnp.tensordot(probabilities, value, 1), values)


def grid_log_z(
    energy_fn: EnergyFn,
    beta: ArrayLike,
    lower: BoxBound,
    upper: BoxBound,
    num_points: int | Sequence[int],
) -> jax.Array:
    r"""``log Z(beta) = log \int_{box} exp(-beta E(x)) dx`` by the trapezoid rule.

    .. math::

        \log Z \approx \operatorname{logsumexp}_i \big(-\beta E(x_i) + \log w_i\big),

    with ``w_i`` the products of the per-axis trapezoid weights (``h`` inside,
    ``h / 2`` on the edges). Exact up to the mass outside the box and a
    quadrature error that falls geometrically with the number of points (see
    the module docstring); the box is the caller's responsibility.

    Args:
        energy_fn: ``E(x) -> scalar`` on positions ``x: (dim,)``.
        beta: inverse temperature, a positive scalar (may be traced).
        lower: lower corner of the box, length 1 or 2 (a number for 1-D).
        upper: upper corner of the box, same length, above ``lower``.
        num_points: points per axis, an integer >= 2 or one per axis.

    Returns:
        A scalar, ``log Z`` over the box.

    Examples:
        >>> import jax.numpy as jnp
        >>> harmonic = lambda x: 0.5 * jnp.sum(x**2)
        >>> log_z = grid_log_z(harmonic, 1.0, [-10.0, -10.0], [10.0, 10.0], 201)
        >>> print(round(float(log_z), 5), round(float(jnp.log(2 * jnp.pi)), 5))
        1.83788 1.83788
    """
    _check_beta(beta)
    grid = _check_grid(lower, upper, num_points)
    return _log_z_on_grid(as_pytree_fn(energy_fn), beta, *grid)


def grid_density(
    energy_fn: EnergyFn,
    beta: ArrayLike,
    lower: BoxBound,
    upper: BoxBound,
    num_points: int | Sequence[int],
) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """The normalised Boltzmann density ``exp(-beta E(x)) / Z`` on a regular grid.

    A density, not a probability per cell: it integrates to 1 by the trapezoid
    rule on the same grid. A marginal is a trapezoid sum over the other axis;
    compare it with a sampler's histogram (``density=True``) or plot it with
    ``plt.pcolormesh(*axes, density.T)``.

    Args:
        energy_fn: ``E(x) -> scalar`` on positions ``x: (dim,)``.
        beta: inverse temperature, a positive scalar (may be traced).
        lower: lower corner of the box, length 1 or 2 (a number for 1-D).
        upper: upper corner of the box, same length, above ``lower``.
        num_points: points per axis, an integer >= 2 or one per axis.

    Returns:
        ``(axes, density)``: ``axes`` is a tuple of ``dim`` coordinate vectors
        ``(num_points[i],)``; ``density`` has shape ``(num_points[0],)`` in 1-D and
        ``(num_points[0], num_points[1])`` in 2-D, indexed ``density[i, j]`` at
        ``(axes[0][i], axes[1][j])``.

    Examples:
        >>> import jax.numpy as jnp
        >>> (x,), density = grid_density(lambda x: 0.5 * jnp.sum(x**2), 1.0, -8.0, 8.0, 161)
        >>> print(round(float(density[80]), 5), round(float(1 / jnp.sqrt(2 * jnp.pi)), 5))
        0.39894 0.39894
    """
    _check_beta(beta)
    grid = _check_grid(lower, upper, num_points)
    return _density_on_grid(as_pytree_fn(energy_fn), beta, *grid)


def grid_expectation(
    energy_fn: EnergyFn,
    observable: Callable[[jax.Array], ArrayTree],
    beta: ArrayLike,
    lower: BoxBound,
    upper: BoxBound,
    num_points: int | Sequence[int],
) -> ArrayTree:
    r"""Boltzmann average ``<f> = \int f(x) exp(-beta E(x)) dx / Z`` over a box.

    Both integrals use the same trapezoid weights, so a constant ``f`` is
    reproduced exactly and probabilities sum to 1: with
    ``observable = lambda x: jax.nn.one_hot(basin_of(x), num_basins)`` the
    result is the vector of basin occupation probabilities.

    Args:
        energy_fn: ``E(x) -> scalar`` on positions ``x: (dim,)``.
        observable: ``f(x)`` on one position; any pytree of arrays.
        beta: inverse temperature, a positive scalar (may be traced).
        lower: lower corner of the box, length 1 or 2 (a number for 1-D).
        upper: upper corner of the box, same length, above ``lower``.
        num_points: points per axis, an integer >= 2 or one per axis.

    Returns:
        A pytree like ``observable(x)``: the average of each leaf.

    Examples:
        >>> import jax.numpy as jnp
        >>> energy = lambda x: 0.5 * jnp.sum((x - 1.0) ** 2)
        >>> moments = grid_expectation(
        ...     energy, lambda x: {"mean": x, "square": x**2}, 2.0, [-8.0], [10.0], 361
        ... )
        >>> print(round(float(moments["mean"][0]), 5), round(float(moments["square"][0]), 5))
        1.0 1.5
    """
    _check_beta(beta)
    grid = _check_grid(lower, upper, num_points)
    return _expectation_on_grid(as_pytree_fn(energy_fn), as_pytree_fn(observable), beta, *grid)
