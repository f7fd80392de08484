"""Neal's funnel: a hierarchical target whose scale varies by orders of magnitude."""

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from statjax.energy._checks import as_position, check_dim
from statjax.pytree import Pytree, static_field


class NealFunnel(Pytree):
    r"""Neal's funnel (Neal 2003), normalised: ``E = -log p`` exactly.

    With ``v = x[0]`` and ``n = dim - 1`` further coordinates,

    .. math::

        v \sim \mathcal{N}(0, \sigma^2), \qquad
        x_i \mid v \sim \mathcal{N}(0, e^{v}), \quad i = 1, \dots, n,

    .. math::

        E(x) = \frac{v^2}{2\sigma^2} + \frac{1}{2}\log(2\pi\sigma^2)
             + \sum_{i=1}^{n} \Big[\frac{x_i^2}{2 e^{v}} + \frac{v}{2}
             + \frac{1}{2}\log(2\pi)\Big],

    so ``log Z(1) = 0``. The width of the ``x_i`` varies as ``e^{v/2}``, a
    factor ``e^{3 sigma}`` (8100 for ``sigma = 3``) between the neck at
    ``v = -3 sigma`` and the mouth at ``v = +3 sigma``: no single step size fits
    both, which is why fixed-step HMC misses the neck (R. M. Neal, "Slice
    sampling", Ann. Statist. 31, 705-767, 2003, section 8).

    Tempering keeps it solvable. Under ``exp(-beta E)``,
    ``v ~ N(m, sigma^2 / beta)`` with ``m = n (1 - beta) sigma^2 / (2 beta)``
    (the mouth's entropy pulls ``v`` up when ``beta < 1``),
    ``x_i | v ~ N(0, e^v / beta)``, and

    .. math::

        \log Z(\beta) = \frac{(1-\beta)(n+1)}{2}\log 2\pi + (1-\beta)\log\sigma
            - \frac{n+1}{2}\log\beta + \frac{\beta m^2}{2\sigma^2}.

    Attributes:
        dim: number of coordinates ``n + 1``, at least 1 (static).
        sigma: standard deviation of ``v``; positive.

    Examples:
        >>> import jax.numpy as jnp
        >>> funnel = NealFunnel(dim=10)
        >>> print(round(float(funnel.log_z(1.0)), 6), float(funnel.variance_at(1.0)[0]))
        0.0 9.0
        >>> print(round(float(funnel(jnp.zeros(10))), 4))  # log(2 pi)*5 + log 3
        10.288
    """

    dim: int = static_field()
    sigma: ArrayLike = 3.0

    # Hash by identity so that jax.jit(landscape) works: array leaves are unhashable.
    __hash__ = object.__hash__

    def __post_init__(self) -> None:
        check_dim(self.dim, "NealFunnel")

    def __call__(self, x: ArrayLike) -> jax.Array:
        """Energy ``-log p(x)`` of one position ``x = (v, x_1, ..., x_n)``; returns a scalar."""
        x = as_position(x, self.dim, "NealFunnel")
        v, rest = x[0], x[1:]
        num_rest = self.dim - 1
        log_normaliser_v = 0.5 * jnp.log(2.0 * jnp.pi * self.sigma**2)
        energy_v = 0.5 * (v / self.sigma) ** 2 + log_normaliser_v
        # -log N(x_i; 0, e^v) = x_i^2 e^{-v} / 2 + v / 2 + log(2 pi) / 2, summed over i.
        energy_rest = 0.5 * jnp.sum(rest**2) * jnp.exp(-v) + 0.5 * num_rest * (
            v + math.log(2.0 * math.pi)
        )
        return energy_v + energy_rest

    def _v_mean_at(self, beta: ArrayLike) -> ArrayLike:
        num_rest = self.dim - 1
        return num_rest * (1.0 - beta) * self.sigma**2 / (2.0 * beta)

    def log_z(self, beta: ArrayLike) -> jax.Array:
        """Exact ``log Z(beta)`` (see the class docstring); 0 at ``beta = 1``; a scalar."""
        num_coordinates = self.dim
        v_mean = self._v_mean_at(beta)
        return jnp.asarray(
            0.5 * (1.0 - beta) * num_coordinates * jnp.log(2.0 * jnp.pi)
            + (1.0 - beta) * jnp.log(self.sigma)
            - 0.5 * num_coordinates * jnp.log(beta)
            + 0.5 * beta * v_mean**2 / self.sigma**2
        )

    def mean_at(self, beta: ArrayLike) -> jax.Array:
        """Exact mean ``(dim,)`` under ``exp(-beta E)``: ``(m, 0, ..., 0)``, ``m = 0`` at beta 1."""
        v_mean = jnp.asarray(self._v_mean_at(beta))
        return jnp.zeros(self.dim, v_mean.dtype).at[0].set(v_mean)

    def variance_at(self, beta: ArrayLike) -> jax.Array:
        """Exact marginal variances ``(dim,)`` under ``exp(-beta E)``.

        ``Var v = sigma^2 / beta`` and
        ``Var x_i = E[e^v] / beta = exp(m + sigma^2 / (2 beta)) / beta``, which is
        ``e^{sigma^2 / 2}``, about 90 for ``sigma = 3``, at ``beta = 1``.
        """
        v_variance = jnp.asarray(self.sigma**2 / beta)
        x_variance = jnp.exp(self._v_mean_at(beta) + 0.5 * v_variance) / beta
        return jnp.full(self.dim, x_variance).at[0].set(v_variance)
