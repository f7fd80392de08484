r"""Du & Mordatch's short-run Langevin kernel: separate step and noise, clipped gradients.

The sampler of short-run contrastive divergence for deep energy-based models
(Du & Mordatch 2019, "Implicit generation and generalization in energy-based
models"), written as a statjax kernel so that :func:`statjax.run_chains`, the
driver and :mod:`statjax.models.ebm` run it like any other.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from statjax._tree import as_pytree_fn, tree_where
from statjax.checks import check_floating_position, check_positive
from statjax.pytree import Pytree
from statjax.random import normal_like
from statjax.samplers.base import AcceptanceInfo
from statjax.samplers.langevin import LangevinState, energy_and_grad_state, is_finite_state
from statjax.types import ArrayTree, EnergyFn, PRNGKey


class DuMordatchLangevin(Pytree):
    r"""Du & Mordatch's short-run SGLD: separate step size and noise, clipped gradients.

    One step at inverse temperature ``beta = 1 / T``:

        x' = clip(x - step_size * clip(grad E(x), -grad_clip, grad_clip)
                  + noise_scale * sqrt(T) * xi,  lower, upper),     xi ~ N(0, I)

    (Du & Mordatch 2019, Algorithm 1 and section 3.2, who decouple the noise from
    the step and clamp the gradient; the UvA tutorial uses ``step_size = 10``,
    ``noise_scale = 0.005``, ``grad_clip = 0.03`` on images in ``[-1, 1]``, which
    ``lower``/``upper`` enforce). As everywhere in statjax the drift does not depend
    on the temperature and the noise grows as ``sqrt(T)``, so ``beta = +inf``
    (``T = 0``) is clipped gradient descent. With ``noise_scale = sqrt(2 step_size)``,
    no clipping and no bounds, this is exactly :func:`statjax.ula`. Otherwise it
    samples no Boltzmann law exactly: it is a noisy descent, which is what
    short-run contrastive divergence uses.

    The kernel contract (:mod:`statjax.samplers.base`): the state is a
    :class:`~statjax.samplers.langevin.LangevinState` whose ``energy`` is the
    untempered ``E(x)``; the step is rejection-free, so ``info.acceptance_rate``
    is 1 and ``info.is_accepted`` True for a finite update, and both are 0/False
    when the proposal's energy or gradient is not finite, which is refused (the
    chain stays put), as in ULA. Build it with :func:`du_mordatch_langevin`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    noise_scale: jax.Array
    grad_clip: jax.Array
    lower: jax.Array
    upper: jax.Array

    def init(self, position: ArrayTree) -> LangevinState:
        """Start a chain at ``position``, caching its energy and gradient."""
        check_floating_position(position, "du_mordatch_langevin")
        return energy_and_grad_state(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: LangevinState, beta: jax.typing.ArrayLike
    ) -> tuple[LangevinState, AcceptanceInfo]:
        """One step at inverse temperature ``beta`` (``+inf``: clipped gradient descent)."""
        noise = normal_like(key, state.position)
        # rsqrt(+inf) = 0: no noise at zero temperature.
        scale = self.noise_scale * jax.lax.rsqrt(jnp.asarray(beta, self.noise_scale.dtype))

        def move(x, gradient, xi):
            drift = self.step_size * jnp.clip(gradient, -self.grad_clip, self.grad_clip)
            return jnp.clip(x - drift + scale * xi, self.lower, self.upper).astype(x.dtype)

        position = jax.tree_util.tree_map(move, state.position, state.energy_grad, noise)
        proposal = energy_and_grad_state(self.energy_fn, position)
        is_finite = is_finite_state(proposal)
        new_state = tree_where(is_finite, proposal, state)
        return new_state, AcceptanceInfo(is_finite.astype(state.energy.dtype), is_finite)


def du_mordatch_langevin(
    energy_fn: EnergyFn,
    step_size: jax.typing.ArrayLike,
    noise_scale: jax.typing.ArrayLike,
    grad_clip: jax.typing.ArrayLike = math.inf,
    lower: jax.typing.ArrayLike = -math.inf,
    upper: jax.typing.ArrayLike = math.inf,
) -> DuMordatchLangevin:
    """Du & Mordatch's (2019) Langevin kernel (see :class:`DuMordatchLangevin`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable.
        step_size: multiplier of the (clipped) gradient, ``> 0``.
        noise_scale: standard deviation of the noise at ``T = 1``, ``>= 0``.
        grad_clip: each gradient component is clipped to ``[-grad_clip, grad_clip]``
            (``> 0``; ``math.inf`` for no clipping).
        lower: every coordinate is clipped to ``[lower, upper]`` after a step.
        upper: see ``lower`` (``> lower``).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.du_mordatch_langevin(
        ...     lambda x: 0.5 * jnp.sum(x**2), 10.0, 0.0, 0.03)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.ones(2)), 1.0)
        >>> print(state.position.round(5))  # the gradient 1 is clipped to 0.03: a move of 10 * 0.03
        [0.7 0.7]
    """
    check_positive("step_size", step_size)
    check_positive("noise_scale", noise_scale, allow_zero=True)
    # grad_clip and the bounds may be infinite (no clipping), which check_positive refuses.
    _check_scalar("grad_clip", grad_clip, lambda v: v > 0, "> 0 (math.inf for none)")
    _check_scalar("lower", lower, lambda v: not np.isnan(v), "a number (-math.inf for none)")
    _check_scalar("upper", upper, lambda v: _is_traced(lower) or v > np.asarray(lower), "> lower")
    dtype = jnp.result_type(float)
    return DuMordatchLangevin(
        as_pytree_fn(energy_fn),
        *(jnp.asarray(value, dtype) for value in (step_size, noise_scale, grad_clip, lower, upper)),
    )


def _is_traced(value) -> bool:
    return isinstance(value, jax.core.Tracer)


def _check_scalar(name: str, value, is_valid, expected: str) -> None:
    """Raise ``ValueError`` unless a concrete scalar ``value`` passes ``is_valid``; tracers pass."""
    if _is_traced(value):
        return
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a number, got {name}={value!r}.") from error
    if array.ndim != 0 or np.isnan(array) or not is_valid(array):
        raise ValueError(f"{name} must be a scalar {expected}, got {name}={value!r}.")


__all__ = ["DuMordatchLangevin", "du_mordatch_langevin"]
