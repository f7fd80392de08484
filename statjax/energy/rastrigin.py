"""Rastrigin's function: a parabola covered in a lattice of local minima."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from statjax.energy._checks import as_position, check_dim
from statjax.pytree import Pytree, static_field


class Rastrigin(Pytree):
    r"""Rastrigin's function (Rastrigin 1974; in ``d`` dimensions Mühlenbein et al. 1991).

    .. math::

        E(x) = A d + \sum_{i=1}^{d} \big[x_i^2 - A \cos(2\pi x_i)\big]

    The global minimum is the origin, ``E = 0``. Each coordinate has a local
    minimum near every integer ``k`` with ``|k|`` below about ``pi A`` (where the
    cosine's slope, up to ``2 pi A``, can balance the parabola's, ``2 |x|``), so
    there are about ``(2 R + 1)^d`` minima within ``R`` of the origin; at an
    integer point ``k`` the energy is exactly ``sum(k^2)``. The barriers
    between neighbouring minima are about ``2 A`` per coordinate, so a chain at
    ``beta A >> 1`` hops rarely while the basin-averaged landscape is a simple
    parabola: the standard test of global optimisers and annealing schedules
    (L. A. Rastrigin, "Systems of extremal control", Nauka, 1974; H. Mühlenbein,
    M. Schomisch and J. Born, Parallel Comput. 17, 619-632, 1991).

    Attributes:
        dim: number of coordinates (static).
        amplitude: ``A``, the depth of the cosine modulation.

    Examples:
        >>> import jax.numpy as jnp
        >>> rastrigin = Rastrigin(dim=2)
        >>> print(float(rastrigin(jnp.zeros(2))), float(rastrigin(jnp.array([1.0, -2.0]))))
        0.0 5.0
    """

    dim: int = static_field()
    amplitude: ArrayLike = 10.0

    # Hash by identity so that jax.jit(landscape) works: array leaves are unhashable.
    __hash__ = object.__hash__

    def __post_init__(self) -> None:
        check_dim(self.dim, "Rastrigin")

    def __call__(self, x: ArrayLike) -> jax.Array:
        """Energy of one position ``x: (dim,)``; returns a scalar."""
        x = as_position(x, self.dim, "Rastrigin")
        # A (1 - cos) rather than A d - A cos: no cancellation of large terms near 0.
        return jnp.sum(x**2 + self.amplitude * (1.0 - jnp.cos(2.0 * jnp.pi * x)))

    def minimum(self) -> jax.Array:
        """The global minimum ``(dim,)``: the origin, ``E = 0``."""
        return jnp.zeros(self.dim)
