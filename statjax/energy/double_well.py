"""Symmetric double well: the smallest landscape with a barrier."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from statjax.energy._checks import as_position, check_dim
from statjax.pytree import Pytree, static_field


class DoubleWell(Pytree):
    r"""Quartic double well along ``x[0]``, harmonic in the other coordinates.

    .. math::

        E(x) = h \, (x_0^2 - 1)^2 + \frac{1}{2} \sum_{i \ge 1} x_i^2

    with ``h = barrier``. The two minima ``x = (±1, 0, ..., 0)`` have ``E = 0``
    and curvature ``8 h`` along ``x[0]``; the saddle between them is the origin,
    ``E = h``. At inverse temperature ``beta`` a chain crosses at a rate
    ``~ exp(-beta h)`` (Kramers 1940), so ``beta * barrier`` is the one number
    that says how metastable the sampling problem is; with the default
    ``barrier = 1`` the energy unit is the barrier height.

    ``log Z`` separates into the ``x[0]`` factor and ``(d - 1) / 2 log(2 pi / beta)``;
    the ``x[0]`` factor is ``(pi / 2) e^{-a/2} [I_{-1/4}(a/2) + I_{1/4}(a/2)]`` with
    ``a = beta h`` (modified Bessel functions of order ±1/4, absent from
    ``jax.scipy``), so no ``log_z`` method is offered: use
    :func:`statjax.thermo.grid_log_z` on ``x[0]``.

    Attributes:
        dim: number of coordinates (static).
        barrier: barrier height ``h > 0``, the energy of the saddle at the origin.

    Examples:
        >>> import jax.numpy as jnp
        >>> well = DoubleWell(dim=2, barrier=3.0)
        >>> print(float(well(jnp.zeros(2))), float(well(jnp.array([1.0, 0.0]))))
        3.0 0.0
        >>> print(well.minima())
        [[-1.  0.]
         [ 1.  0.]]
    """

    dim: int = static_field()
    barrier: ArrayLike = 1.0

    # Hash by identity so that jax.jit(landscape) works: array leaves are unhashable.
    __hash__ = object.__hash__

    def __post_init__(self) -> None:
        check_dim(self.dim, "DoubleWell")

    def __call__(self, x: ArrayLike) -> jax.Array:
        """Energy of one position ``x: (dim,)``; returns a scalar."""
        x = as_position(x, self.dim, "DoubleWell")
        return jnp.asarray(self.barrier * (x[0] ** 2 - 1.0) ** 2 + 0.5 * jnp.sum(x[1:] ** 2))

    def minima(self) -> jax.Array:
        """The two minima ``(2, dim)``, ``(-1, 0, ..., 0)`` and ``(+1, 0, ..., 0)``; ``E = 0``."""
        return jnp.zeros((2, self.dim)).at[:, 0].set(jnp.array([-1.0, 1.0]))

    def saddle_point(self) -> jax.Array:
        """The transition state ``(dim,)`` between the wells: the origin, ``E = barrier``."""
        return jnp.zeros(self.dim)
