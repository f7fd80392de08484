"""Langevin kernels: unadjusted (ULA) and Metropolis-adjusted (MALA).

Both discretise the overdamped Langevin equation in the energy landscape,

    dx = -grad E(x) dt + sqrt(2 T) dW,      T = 1 / beta,

whose stationary law is ``exp(-beta E(x))``. The step size is a time step in
energy units: the drift does not depend on the temperature and the noise grows
as ``sqrt(T)``, so one step size is stable at every temperature of a ladder.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax._tree import (
    as_pytree_fn,
    normal_and_log_uniform_like,
    normal_like,
    tree_axpy,
    tree_vdot,
    tree_where,
)
from statjax.pytree import Pytree
from statjax.samplers.base import AcceptanceInfo, accept_with_log_uniform, check_positive
from statjax.types import ArrayTree, EnergyFn, PRNGKey


class LangevinState(NamedTuple):
    """State of a Langevin (or HMC) chain.

    Attributes:
        position: the current point (any pytree).
        energy: the untempered energy ``E(position)``.
        energy_grad: ``grad E(position)``, a pytree like ``position``.
    """

    position: ArrayTree
    energy: jax.Array
    energy_grad: ArrayTree


def energy_and_grad_state(energy_fn: EnergyFn, position: ArrayTree) -> LangevinState:
    """A :class:`LangevinState` at ``position``: the energy and its gradient, cached."""
    energy, energy_grad = jax.value_and_grad(energy_fn)(position)
    return LangevinState(position, energy, energy_grad)


def _langevin_proposal(energy_fn, step_size, noise, state, beta) -> LangevinState:
    """Euler–Maruyama step ``x' = x - eps grad E(x) + sqrt(2 eps / beta) xi``, ``xi = noise``."""
    noise_scale = jnp.sqrt(2.0 * step_size / beta)
    drifted = tree_axpy(-step_size, state.energy_grad, state.position)
    return energy_and_grad_state(energy_fn, tree_axpy(noise_scale, noise, drifted))


def is_finite_state(state: LangevinState) -> jax.Array:
    """Whether a state's energy and every gradient entry are finite (else it is refused)."""
    grad_finite = [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(state.energy_grad)]
    return jnp.isfinite(state.energy) & jnp.all(jnp.stack(grad_finite))


class UnadjustedLangevin(Pytree):
    """Unadjusted Langevin algorithm (ULA), a biased but rejection-free kernel.

    ``x' = x - eps grad E(x) + sqrt(2 eps T) xi`` (Roberts & Tweedie 1996; Parisi
    1981). Its stationary law differs from ``exp(-beta E)`` by O(eps). A proposal
    whose energy or gradient is not finite is refused (the chain stays put), so a
    chain never holds a NaN; ``is_accepted`` reports it. Build it with :func:`ula`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array

    def init(self, position: ArrayTree) -> LangevinState:
        """Start a chain at ``position``, caching its energy and gradient."""
        return energy_and_grad_state(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: LangevinState, beta: jax.typing.ArrayLike
    ) -> tuple[LangevinState, AcceptanceInfo]:
        """One ULA step at inverse temperature ``beta``."""
        noise = normal_like(key, state.position)
        proposal = _langevin_proposal(self.energy_fn, self.step_size, noise, state, beta)
        is_finite = is_finite_state(proposal)
        new_state = tree_where(is_finite, proposal, state)
        return new_state, AcceptanceInfo(is_finite.astype(state.energy.dtype), is_finite)


class MetropolisAdjustedLangevin(Pytree):
    """Metropolis-adjusted Langevin algorithm (MALA), exact for ``exp(-beta E)``.

    The ULA proposal ``q(x'|x) = N(x - eps grad E(x), 2 eps T I)`` is accepted with

        log alpha = -beta [E(x') - E(x)] - beta / (4 eps) (|x - x' + eps grad E(x')|^2
                                                            - |x' - x + eps grad E(x)|^2)

    (Roberts & Tweedie 1996; Besag 1994). Build it with :func:`mala`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array

    def init(self, position: ArrayTree) -> LangevinState:
        """Start a chain at ``position``, caching its energy and gradient."""
        return energy_and_grad_state(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: LangevinState, beta: jax.typing.ArrayLike
    ) -> tuple[LangevinState, AcceptanceInfo]:
        """One MALA step at inverse temperature ``beta``."""
        noise, log_uniform = normal_and_log_uniform_like(key, state.position)
        proposal = _langevin_proposal(self.energy_fn, self.step_size, noise, state, beta)
        log_ratio = -beta * (
            proposal.energy
            - state.energy
            + (
                _squared_jump(proposal, state, self.step_size)
                - _squared_jump(state, proposal, self.step_size)
            )
            / (4.0 * self.step_size)
        )
        return accept_with_log_uniform(log_uniform, log_ratio, proposal, state)


def _squared_jump(start: LangevinState, end: LangevinState, step_size) -> jax.Array:
    """``|x_end - x_start + eps grad E(x_start)|^2``: the exponent of ``q(end | start)``."""
    displacement = jax.tree_util.tree_map(
        lambda a, b, g: a - b + step_size * g, end.position, start.position, start.energy_grad
    )
    return tree_vdot(displacement, displacement)


def ula(energy_fn: EnergyFn, step_size: jax.typing.ArrayLike) -> UnadjustedLangevin:
    """Unadjusted Langevin kernel (see :class:`UnadjustedLangevin`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable.
        step_size: the time step ``eps`` (> 0).

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.ula(lambda x: 0.5 * jnp.sum(x**2), 0.05)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.zeros(2)), 1.0)
    """
    check_positive("step_size", step_size)
    return UnadjustedLangevin(as_pytree_fn(energy_fn), jnp.asarray(step_size))


def mala(energy_fn: EnergyFn, step_size: jax.typing.ArrayLike) -> MetropolisAdjustedLangevin:
    """Metropolis-adjusted Langevin kernel (see :class:`MetropolisAdjustedLangevin`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable.
        step_size: the time step ``eps`` (> 0).

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.mala(lambda x: 0.5 * jnp.sum(x**2), 0.1)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.zeros(2)), 4.0)
    """
    check_positive("step_size", step_size)
    return MetropolisAdjustedLangevin(as_pytree_fn(energy_fn), jnp.asarray(step_size))
