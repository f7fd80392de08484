"""Rosenbrock's banana: a curved, narrow valley."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from statjax.energy._checks import as_position, check_dim
from statjax.pytree import Pytree, static_field


class Rosenbrock(Pytree):
    r"""Rosenbrock's function (Rosenbrock 1960) in its standard sum form.

    .. math::

        E(x) = \sum_{i=0}^{d-2} \big[ b (x_{i+1} - x_i^2)^2 + (a - x_i)^2 \big]

    In two dimensions the global minimum is ``(a, a^2)`` with ``E = 0``, at the
    bottom of a parabolic valley of width ``~ 1 / sqrt(b)``. In more dimensions
    the minimum is ``(1, ..., 1)`` with ``E = 0`` for ``a = 1`` (also the origin
    for ``a = 0``), with a second, local minimum near ``(-1, 1, ..., 1)`` for
    ``4 <= d <= 7`` (Shang & Qiu 2006, Evol. Comput. 14, 119-126); for other
    ``a`` it has no closed form (H. H. Rosenbrock, Comput. J. 3, 175-184, 1960).

    As a density, two dimensions are exactly solvable: under ``exp(-beta E)``,
    ``x_0 ~ N(a, 1 / (2 beta))`` and ``x_1 | x_0 ~ N(x_0^2, 1 / (2 beta b))``, so
    ``Z(beta) = pi / (beta sqrt(b))`` and the moments are closed-form
    (:meth:`log_z`, :meth:`mean_at`, :meth:`variance_at`). The "Rosenbrock
    density" of the ensemble-sampler literature is this energy at ``beta = 1/20``
    (Goodman & Weare 2010, Commun. Appl. Math. Comput. Sci. 5, 65-80).

    Attributes:
        a: position of the minimum along ``x_0``.
        b: stiffness of the valley walls; positive.
        dim: number of coordinates, at least 2 (static).

    Examples:
        >>> import jax.numpy as jnp
        >>> banana = Rosenbrock(a=1.0, b=100.0)
        >>> print(float(banana(jnp.array([1.0, 1.0]))), float(banana(jnp.zeros(2))))
        0.0 1.0
        >>> print(banana.minimum())
        [1. 1.]
    """

    a: ArrayLike = 1.0
    b: ArrayLike = 100.0
    dim: int = static_field(default=2)

    # Hash by identity so that jax.jit(landscape) works: array leaves are unhashable.
    __hash__ = object.__hash__

    def __post_init__(self) -> None:
        check_dim(self.dim, "Rosenbrock")
        if self.dim < 2:
            raise ValueError(f"Rosenbrock: dim must be at least 2, got dim={self.dim}.")

    def __call__(self, x: ArrayLike) -> jax.Array:
        """Energy of one position ``x: (dim,)``; returns a scalar."""
        x = as_position(x, self.dim, "Rosenbrock")
        valley = self.b * (x[1:] - x[:-1] ** 2) ** 2
        return jnp.sum(valley + (self.a - x[:-1]) ** 2)

    def minimum(self) -> jax.Array:
        """The zero-energy global minimum ``(dim,)``: ``(a, ..., a, a^2)``.

        Exact for ``dim = 2`` and for ``a`` in ``{0, 1}``; for ``dim > 2`` and any
        other ``a`` no point has ``E = 0`` and the minimum has no closed form, so
        the result is NaN (a value, not an error, so that it stays jit-safe).
        """
        a = jnp.asarray(self.a, jnp.result_type(self.a, float))
        point = jnp.full(self.dim, a).at[-1].set(a**2)
        if self.dim == 2:
            return point
        return jnp.where(a**2 == a, point, jnp.nan)

    def _check_two_dimensional(self, method: str) -> None:
        if self.dim != 2:
            raise ValueError(
                f"Rosenbrock.{method} is exact only in two dimensions, got dim={self.dim}; "
                "estimate it with a sampler or statjax.thermo for dim > 2."
            )

    def log_z(self, beta: ArrayLike) -> jax.Array:
        """Exact ``log Z(beta) = log(pi / beta) - log(b) / 2`` for ``dim = 2``; a scalar."""
        self._check_two_dimensional("log_z")
        return jnp.log(jnp.pi / beta) - 0.5 * jnp.log(self.b)

    def mean_at(self, beta: ArrayLike) -> jax.Array:
        """Exact mean ``(a, a^2 + 1 / (2 beta))`` of ``exp(-beta E)`` for ``dim = 2``."""
        self._check_two_dimensional("mean_at")
        variance_0 = 0.5 / jnp.asarray(beta)
        return jnp.stack([jnp.asarray(self.a), self.a**2 + variance_0])

    def variance_at(self, beta: ArrayLike) -> jax.Array:
        """Exact marginal variances of ``exp(-beta E)`` for ``dim = 2``.

        With ``v = 1 / (2 beta)``: ``Var x_0 = v`` and
        ``Var x_1 = Var(x_0^2) + v / b = 4 a^2 v + 2 v^2 + v / b``.
        """
        self._check_two_dimensional("variance_at")
        variance_0 = 0.5 / jnp.asarray(beta)
        variance_1 = 4.0 * self.a**2 * variance_0 + 2.0 * variance_0**2 + variance_0 / self.b
        return jnp.stack([variance_0, variance_1])
