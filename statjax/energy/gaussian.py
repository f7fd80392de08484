"""Anisotropic Gaussian: the landscape whose every thermodynamic quantity is known."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from statjax.energy._checks import as_position
from statjax.pytree import Pytree


class AnisotropicGaussian(Pytree):
    r"""Quadratic well with one length scale per axis.

    .. math::

        E(x) = \frac{1}{2} \sum_i \left(\frac{x_i - \mu_i}{s_i}\right)^2

    At every inverse temperature ``beta`` the Boltzmann density
    ``exp(-beta E) / Z`` is the normal law ``N(mean, diag(scales**2 / beta))``, and

    .. math::

        \log Z(\beta) = \frac{d}{2} \log \frac{2\pi}{\beta} + \sum_i \log s_i .

    It is the reference target for samplers: their moments must match
    :meth:`mean_at` and :meth:`variance_at` at any ``beta``. The ratio
    ``max(scales) / min(scales)`` is the square root of the condition number,
    which sets how many gradient steps a sampler needs to cross the long axis
    (e.g. Neal 2011, "MCMC using Hamiltonian dynamics", section 4.2).

    Attributes:
        mean: ``(dim,)`` position of the minimum (``E = 0`` there).
        scales: ``(dim,)`` or scalar standard deviations at ``beta = 1``; positive.

    Examples:
        >>> import jax.numpy as jnp
        >>> gaussian = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.array([1.0, 0.1]))
        >>> print(float(gaussian(jnp.array([1.0, 0.1]))))
        1.0
        >>> print(gaussian.variance_at(2.0))
        [0.5   0.005]
        >>> print(round(float(gaussian.log_z(1.0)), 4))  # log(2 pi) + log(0.1)
        -0.4647
    """

    mean: jax.Array
    scales: jax.Array

    # Hash by identity so that jax.jit(landscape) works: array leaves are unhashable.
    __hash__ = object.__hash__

    @property
    def dim(self) -> int:
        """Number of coordinates, from the shapes of ``mean`` and ``scales``."""
        shape = jnp.broadcast_shapes(jnp.shape(self.mean), jnp.shape(self.scales))
        if len(shape) != 1:
            raise ValueError(
                "AnisotropicGaussian: mean and scales must broadcast to one axis (dim,), "
                f"got shapes {jnp.shape(self.mean)} and {jnp.shape(self.scales)}."
            )
        return shape[0]

    def __call__(self, x: ArrayLike) -> jax.Array:
        """Energy of one position ``x: (dim,)``; returns a scalar."""
        x = as_position(x, self.dim, "AnisotropicGaussian")
        return 0.5 * jnp.sum(((x - self.mean) / self.scales) ** 2)

    def mean_at(self, beta: ArrayLike) -> jax.Array:
        """Exact mean ``(dim,)`` of ``exp(-beta E)``: ``mean`` at every ``beta``."""
        del beta  # the minimum does not move with temperature
        return jnp.broadcast_to(jnp.asarray(self.mean), (self.dim,))

    def variance_at(self, beta: ArrayLike) -> jax.Array:
        """Exact marginal variances ``(dim,)`` of ``exp(-beta E)``: ``scales**2 / beta``."""
        return jnp.broadcast_to(jnp.asarray(self.scales) ** 2 / beta, (self.dim,))

    def log_z(self, beta: ArrayLike) -> jax.Array:
        """Exact ``log Z(beta) = (d/2) log(2 pi / beta) + sum(log scales)``; a scalar."""
        log_scales = jnp.broadcast_to(jnp.log(self.scales), (self.dim,))
        return 0.5 * self.dim * jnp.log(2.0 * jnp.pi / beta) + jnp.sum(log_scales)
