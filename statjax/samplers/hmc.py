"""Hamiltonian Monte Carlo with a leapfrog integrator and a diagonal mass matrix.

The checks, dtypes and zero-temperature limit follow the Langevin kernels'
decisions (:mod:`statjax.samplers.langevin`'s module docstring).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax._tree import (
    as_pytree_fn,
    broadcast_like,
    normal_and_log_uniform_like,
    tree_axpy,
    tree_cast_like,
    tree_mul,
    tree_upcast,
    tree_vdot,
)
from statjax.checks import check_count, check_floating_position, check_positive
from statjax.pytree import Pytree
from statjax.samplers.base import accept_with_log_uniform
from statjax.samplers.langevin import LangevinState, energy_and_grad_state
from statjax.types import ArrayTree, EnergyFn, PRNGKey

HMCState = LangevinState
"""HMC caches the same things as Langevin kernels: position, energy, gradient."""

DIVERGENCE_THRESHOLD = 1000.0
"""A trajectory whose tempered energy error ``beta * dH`` exceeds this is divergent."""


class HMCInfo(NamedTuple):
    """Outcome of one HMC transition.

    Attributes:
        acceptance_rate: ``min(1, exp(-beta dH))``.
        is_accepted: whether the end of the trajectory was accepted.
        is_divergent: ``beta * dH > 1000`` or a non-finite energy along the way
            (at ``beta = inf``: any rise of ``H``; ``dH = 0`` is never divergent).
        energy_change: ``dH = H(end) - H(start)``, untempered.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    energy_change: jax.Array


def _leapfrog(energy_fn, step_size, inverse_mass_matrix, num_steps, state, momentum):
    """``num_steps`` velocity-Verlet steps of ``dx/dt = M^-1 p``, ``dp/dt = -grad E``.

    One gradient evaluation per step: the gradient at the end of a step is the one
    the next step starts with (and is cached in the returned state).

    The trajectory's position and momentum are carried in at least float32 (the
    dtype of ``momentum``) and every update is cast back to its carry's dtype, so
    the loop's types never change; the energy and gradient are evaluated at the
    position rounded to the chain's dtype, which is what the returned state
    holds. For float32 and float64 positions the rounding is the identity.
    """
    chain_position = state.position  # its dtypes are the chain's

    def one_step(_, carry):
        position, _, energy_grad, momentum = carry  # the energy is only carried out
        momentum = tree_cast_like(tree_axpy(-0.5 * step_size, energy_grad, momentum), momentum)
        velocity = tree_mul(inverse_mass_matrix, momentum)
        position = tree_cast_like(tree_axpy(step_size, velocity, position), position)
        new = energy_and_grad_state(energy_fn, tree_cast_like(position, chain_position))
        momentum = tree_cast_like(tree_axpy(-0.5 * step_size, new.energy_grad, momentum), momentum)
        return position, new.energy, new.energy_grad, momentum

    start = (tree_upcast(state.position), state.energy, state.energy_grad, momentum)
    position, energy, energy_grad, momentum = jax.lax.fori_loop(0, num_steps, one_step, start)
    return LangevinState(tree_cast_like(position, chain_position), energy, energy_grad), momentum


def _kinetic_energy(inverse_mass_matrix, momentum) -> jax.Array:
    return 0.5 * tree_vdot(momentum, tree_mul(inverse_mass_matrix, momentum))


class HamiltonianMonteCarlo(Pytree):
    """HMC kernel targeting ``exp(-beta E(x))`` (Duane et al. 1987; Neal 2011).

    The Hamiltonian is ``H(x, p) = E(x) + p^T M^-1 p / 2``. Momenta are drawn at
    the chain's temperature, ``p ~ N(0, T M)``, the dynamics is integrated with
    ``num_integration_steps`` leapfrog steps of size ``step_size`` on the
    *untempered* energy, and the end point is accepted with probability
    ``min(1, exp(-beta [H(x', p') - H(x, p)]))``. This is HMC on ``beta E`` with
    time rescaled, so the step size that is stable at one temperature is stable at
    all of them. Build it with :func:`hmc`; every number is a traced leaf, the
    number of integration steps included, so none of them recompiles.

    A proposal whose energy is NaN, ``+inf`` or ``-inf`` is refused (by
    :func:`statjax.samplers.base.accept_with_log_uniform`). At ``beta = inf`` the
    momentum ``p ~ N(0, T M)`` is exactly 0: the trajectory is a deterministic
    descent from rest, accepted iff ``H`` strictly drops (``E(x') + K(p') < E(x)``),
    so the energy never rises. bfloat16 positions are integrated in float32 and
    rounded at each evaluation of the energy.
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    num_integration_steps: jax.Array
    inverse_mass_matrix: ArrayTree

    def init(self, position: ArrayTree) -> HMCState:
        """Start a chain at ``position``, caching its energy and gradient."""
        check_floating_position(position, "hmc")
        return energy_and_grad_state(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: HMCState, beta: jax.typing.ArrayLike
    ) -> tuple[HMCState, HMCInfo]:
        """One HMC transition at inverse temperature ``beta``."""
        beta = jnp.asarray(beta)
        noise, log_uniform = normal_and_log_uniform_like(key, state.position, at_least_float32=True)
        # p ~ N(0, T M) with M = diag(1 / inverse_mass_matrix); exactly 0 at beta = inf.
        momentum_scale = jax.tree_util.tree_map(
            lambda m: jax.lax.rsqrt(beta * m),
            broadcast_like(self.inverse_mass_matrix, state.position),
        )
        momentum = tree_cast_like(tree_mul(momentum_scale, noise), noise)
        proposal, end_momentum = _leapfrog(
            self.energy_fn,
            self.step_size,
            self.inverse_mass_matrix,
            self.num_integration_steps,
            state,
            momentum,
        )
        energy_change = (
            proposal.energy
            - state.energy
            + _kinetic_energy(self.inverse_mass_matrix, end_momentum)
            - _kinetic_energy(self.inverse_mass_matrix, momentum)
        )
        new_state, info = accept_with_log_uniform(
            log_uniform, -beta * energy_change, proposal, state
        )
        # NaN counts as divergent; dH = 0 never does (beta = inf would make it 0 * inf).
        is_divergent = (energy_change != 0) & ~(beta * energy_change <= DIVERGENCE_THRESHOLD)
        return new_state, HMCInfo(
            info.acceptance_rate, info.is_accepted, is_divergent, energy_change
        )


def hmc(
    energy_fn: EnergyFn,
    step_size: jax.typing.ArrayLike,
    num_integration_steps: int,
    inverse_mass_matrix: ArrayTree | None = None,
) -> HamiltonianMonteCarlo:
    """Hamiltonian Monte Carlo kernel (see :class:`HamiltonianMonteCarlo`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable; one scalar per position
            (a vector-valued energy is a ``ValueError`` when the kernel is traced).
        step_size: leapfrog step size (> 0).
        num_integration_steps: leapfrog steps per transition, a whole number >= 1
            (``2.5`` is refused). It is a traced leaf: a new count reuses the
            compiled program, and a traced count (inside ``jit``) is taken as is.
        inverse_mass_matrix: diagonal of ``M^-1``: a scalar, or a pytree shaped like
            the position. ``None`` means the identity. Set it to the target's
            variances to precondition an anisotropic target.

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.hmc(lambda x: 0.5 * jnp.sum(x**2), 0.2, 10)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.zeros(2)), 1.0)
    """
    check_positive("step_size", step_size)
    if not isinstance(num_integration_steps, jax.core.Tracer):
        num_integration_steps = check_count("num_integration_steps", num_integration_steps)
    if inverse_mass_matrix is None:
        inverse_mass_matrix = 1.0
    check_positive("inverse_mass_matrix", inverse_mass_matrix)
    return HamiltonianMonteCarlo(
        as_pytree_fn(energy_fn),
        jnp.asarray(step_size),
        jnp.asarray(num_integration_steps, dtype=jnp.int32),
        jax.tree_util.tree_map(jnp.asarray, inverse_mass_matrix),
    )
