"""The Müller–Brown potential: three minima, two saddles, a curved reaction path."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from statjax.energy._checks import as_position
from statjax.pytree import Pytree

# Müller & Brown (1979), Table 1: one anisotropic Gaussian-like term per row.
_PREFACTORS = (-200.0, -100.0, -170.0, 15.0)
_XX_COEFFS = (-1.0, -1.0, -6.5, 0.7)
_XY_COEFFS = (0.0, 0.0, 11.0, 0.6)
_YY_COEFFS = (-10.0, -10.0, -6.5, 0.7)
_CENTERS_X = (1.0, 0.0, -0.5, -1.0)
_CENTERS_Y = (0.0, 0.5, 1.5, 1.0)

# Stationary points refined with scipy BFGS / root in float64 (|grad| < 1e-9).
_MINIMA = (
    (-0.55822363, 1.44172584),  # E = -146.699517, the deepest
    (0.62349940, 0.02803776),  # E = -108.166724
    (-0.05001082, 0.46669410),  # E = -80.767818, the shallow intermediate
)
_SADDLE_POINTS = (
    (-0.82200156, 0.62431280),  # E = -40.664844, between minima 0 and 2
    (0.21248658, 0.29298833),  # E = -72.248940, between minima 2 and 1
)


class MullerBrown(Pytree):
    r"""Müller–Brown potential energy surface (Müller & Brown 1979).

    .. math::

        E(x, y) = \sum_{k=1}^{4} A_k \exp\!\big(a_k (x - x_k)^2
                  + b_k (x - x_k)(y - y_k) + c_k (y - y_k)^2\big)

    with ``A = (-200, -100, -170, 15)``, ``a = (-1, -1, -6.5, 0.7)``,
    ``b = (0, 0, 11, 0.6)``, ``c = (-10, -10, -6.5, 0.7)``, ``x_k = (1, 0, -0.5, -1)``,
    ``y_k = (0, 0.5, 1.5, 1)`` (K. Müller and L. D. Brown, Theor. Chim. Acta 53,
    75-93, 1979). Its three minima (:meth:`minima`) are

    ====  =====================  ===========
    0     (-0.558224, 1.441726)  E = -146.70
    1     ( 0.623499, 0.028038)  E = -108.17
    2     (-0.050011, 0.466694)  E = -80.77
    ====  =====================  ===========

    and its two first-order saddles (:meth:`saddle_points`) are
    ``(-0.822, 0.624)``, ``E = -40.66`` (between minima 0 and 2) and
    ``(0.212, 0.293)``, ``E = -72.25`` (between minima 2 and 1). The energy grows
    without bound far from the origin (the fourth term), so ``exp(-beta E)`` is
    normalisable at every ``beta > 0``; temperatures of interest are
    ``1 / beta`` between about 5 and 30. The constants are fixed (no leaves):
    change the temperature, not the surface.

    Examples:
        >>> import jax.numpy as jnp
        >>> muller_brown = MullerBrown()
        >>> print(round(float(muller_brown(muller_brown.minima()[0])), 2))
        -146.7
        >>> print(int(muller_brown.basin_of(jnp.array([0.5, 0.0]))))
        1
    """

    def __call__(self, x: ArrayLike) -> jax.Array:
        """Energy of one position ``x = (x, y)``; returns a scalar."""
        x = as_position(x, 2, "MullerBrown")
        constants = jnp.asarray(
            (_PREFACTORS, _XX_COEFFS, _XY_COEFFS, _YY_COEFFS, _CENTERS_X, _CENTERS_Y), x.dtype
        )
        prefactors, xx, xy, yy, centers_x, centers_y = constants
        dx, dy = x[0] - centers_x, x[1] - centers_y
        return jnp.sum(prefactors * jnp.exp(xx * dx**2 + xy * dx * dy + yy * dy**2))

    def minima(self) -> jax.Array:
        """The three local minima ``(3, 2)``, deepest first (see the table above)."""
        return jnp.asarray(_MINIMA)

    def saddle_points(self) -> jax.Array:
        """The two first-order saddle points ``(2, 2)`` (transition states)."""
        return jnp.asarray(_SADDLE_POINTS)

    def basin_of(
        self,
        x: ArrayLike,
        num_steps: int = 500,
        step_size: float = 2e-4,
        max_step_length: float = 0.02,
    ) -> jax.Array:
        """Index (0, 1 or 2, int32) of the minimum whose basin of attraction holds ``x``.

        The basin of a minimum is the set of points that the steepest-descent
        flow ``dx/dt = -grad E(x)`` carries into it. This follows that flow with
        ``num_steps`` gradient steps ``x <- x - step_size * grad E(x)``, each
        clipped to ``max_step_length`` (far from the minima the gradient reaches
        1e4), and then names the nearest minimum. The defaults are stable at the
        stiffest minimum (largest Hessian eigenvalue 4068, so
        ``step_size * 4068 < 1``) and reach every minimum from the box
        ``[-1.7, 1.3] x [-0.6, 2.2]``; on a 300 x 300 grid of that box they
        disagree with a ten-times-finer flow on 0.1 % of the points, all on the
        ridges between basins, which carry a Boltzmann weight below 1e-4 at
        ``beta = 0.05`` and less at lower temperatures.

        A fixed number of steps keeps it jit-, vmap- and grid-safe: use
        ``jax.vmap(muller_brown.basin_of)`` on a batch, or
        ``lambda x: jax.nn.one_hot(muller_brown.basin_of(x), 3)`` as the observable
        of :func:`statjax.thermo.grid_expectation` for basin occupation probabilities.

        Args:
            x: ``(2,)`` one position.
            num_steps: number of descent steps (static).
            step_size: time step of the descent, in (length^2 / energy).
            max_step_length: longest move of one step, in length units.

        Returns:
            A scalar int32 index into :meth:`minima`.
        """
        x = as_position(x, 2, "MullerBrown")
        energy_grad = jax.grad(self)

        def descend(_, position):
            step = -step_size * energy_grad(position)
            length = jnp.sqrt(jnp.sum(step**2))
            return position + step * jnp.minimum(1.0, max_step_length / jnp.maximum(length, 1e-30))

        end = jax.lax.fori_loop(0, num_steps, descend, x)
        distances = jnp.sum((end - self.minima().astype(x.dtype)) ** 2, axis=-1)
        return jnp.argmin(distances).astype(jnp.int32)
