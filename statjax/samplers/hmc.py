"""Hamiltonian Monte Carlo with a leapfrog integrator and a diagonal or dense mass matrix.

The checks, dtypes and zero-temperature limit follow the Langevin kernels'
decisions (:mod:`statjax.samplers.langevin`'s module docstring).

**Mass matrix and temperature.** The Hamiltonian is ``H(x, p) = E(x) + K(p)``
with ``K(p) = p^T M^-1 p / 2``, and the chain targets ``exp(-beta H)``: the
position marginal is ``exp(-beta E)`` and the momentum marginal is
``N(0, M / beta)`` (``p ~ N(0, T M)``). The dynamics is integrated on the
*untempered* ``H`` (``dx/dt = M^-1 p``, ``dp/dt = -grad E``): with ``p``
scaled by ``sqrt(T)``, this is HMC on ``beta E`` with time rescaled by
``sqrt(T)``, so one step size and one mass matrix serve every temperature. An
adapted ``M^-1`` is therefore the covariance of the target *at beta = 1* (at
another ``beta`` the target's covariance is ``M^-1 / beta`` and the
temperature-scaled momenta absorb the factor).

``inverse_mass_matrix`` is a kernel leaf in one of two forms, told apart by
its shape at trace time:

- **diagonal**: a scalar, or a pytree shaped like the position (one entry per
  coordinate);
- **dense**: one ``(D, D)`` symmetric positive-definite array, ``D`` the number
  of numbers in the position (the position pytree is flattened in
  ``jax.flatten_util.ravel_pytree`` order). Momenta are drawn as
  ``p = L^-T z / sqrt(beta)`` with ``M^-1 = L L^T`` (Cholesky), so
  ``Cov p = M / beta``. The factor is computed in the step: with one matrix
  shared by all chains ``vmap`` computes it once per step for all of them.

As a leaf it may carry a chain axis (``per_chain=("inverse_mass_matrix",)``),
and a new matrix never recompiles.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from statjax._tree import (
    as_pytree_fn,
    broadcast_like,
    tree_axpy,
    tree_cast_like,
    tree_mul,
    tree_upcast,
    tree_vdot,
)
from statjax.checks import check_count, check_floating_position, check_positive
from statjax.pytree import Pytree
from statjax.random import normal_and_log_uniform_like
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


def is_dense(inverse_mass_matrix: ArrayTree, position: ArrayTree) -> bool:
    """Whether ``inverse_mass_matrix`` is a dense ``(D, D)`` matrix for ``position`` (static)."""
    leaves = jax.tree_util.tree_leaves(inverse_mass_matrix)
    if len(leaves) != 1:
        return False
    position_leaves = jax.tree_util.tree_leaves(position)
    size = sum(int(np.prod(jnp.shape(x))) for x in position_leaves)
    shape = tuple(jnp.shape(leaves[0]))
    like_position = len(position_leaves) == 1 and shape == tuple(jnp.shape(position_leaves[0]))
    return shape == (size, size) and not like_position


def velocity(inverse_mass_matrix: ArrayTree, momentum: ArrayTree) -> ArrayTree:
    """``M^-1 p`` for a diagonal or dense inverse mass matrix, in ``momentum``'s dtypes."""
    if is_dense(inverse_mass_matrix, momentum):
        flat, unravel = ravel_pytree(momentum)
        matrix = jnp.asarray(jax.tree_util.tree_leaves(inverse_mass_matrix)[0], flat.dtype)
        return tree_cast_like(unravel(matrix @ flat), momentum)
    return tree_cast_like(tree_mul(inverse_mass_matrix, momentum), momentum)


def kinetic_energy(inverse_mass_matrix: ArrayTree, momentum: ArrayTree) -> jax.Array:
    """``K(p) = p^T M^-1 p / 2``."""
    return 0.5 * tree_vdot(momentum, velocity(inverse_mass_matrix, momentum))


def momentum_from_noise(
    inverse_mass_matrix: ArrayTree, noise: ArrayTree, beta: jax.Array
) -> ArrayTree:
    """``p ~ N(0, M / beta)`` from standard normal ``noise``; exactly 0 at ``beta = inf``.

    Diagonal: ``p = z / sqrt(beta m)``. Dense: ``p = L^-T z / sqrt(beta)`` with
    ``M^-1 = L L^T``, whose covariance is ``L^-T L^-1 / beta = M / beta``.
    """
    if is_dense(inverse_mass_matrix, noise):
        flat, unravel = ravel_pytree(noise)
        matrix = jnp.asarray(jax.tree_util.tree_leaves(inverse_mass_matrix)[0], flat.dtype)
        factor = jnp.linalg.cholesky(matrix)
        momentum = jax.scipy.linalg.solve_triangular(factor, flat, trans=1, lower=True)
        return tree_cast_like(unravel(momentum * jax.lax.rsqrt(beta.astype(flat.dtype))), noise)
    momentum_scale = jax.tree_util.tree_map(
        lambda m: jax.lax.rsqrt(beta * m), broadcast_like(inverse_mass_matrix, noise)
    )
    return tree_cast_like(tree_mul(momentum_scale, noise), noise)


def check_inverse_mass_matrix(inverse_mass_matrix: ArrayTree) -> None:
    """Refuse a mass matrix that is neither positive (diagonal) nor positive-definite (dense).

    A single square 2-D array may be either form (its shape against the
    position's decides at trace time); it must be valid as one of them.
    """
    leaves = jax.tree_util.tree_leaves(inverse_mass_matrix)
    if len(leaves) == 1 and isinstance(leaves[0], np.ndarray | jax.Array):
        matrix = leaves[0]
        if not isinstance(matrix, jax.core.Tracer) and matrix.ndim == 2:
            if matrix.shape[0] == matrix.shape[1] and not np.all(np.asarray(matrix) > 0):
                dense = np.asarray(matrix, np.float64)
                symmetric = np.allclose(dense, dense.T, rtol=1e-5, atol=1e-8)
                if not symmetric or np.any(np.linalg.eigvalsh(dense) <= 0):
                    raise ValueError(
                        "inverse_mass_matrix must be positive entrywise (a diagonal "
                        "shaped like the position) or a symmetric positive-definite "
                        f"(D, D) matrix; got a {matrix.shape} array that is neither."
                    )
                return
    check_positive("inverse_mass_matrix", inverse_mass_matrix)


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
        position = tree_cast_like(
            tree_axpy(step_size, velocity(inverse_mass_matrix, momentum), position), position
        )
        new = energy_and_grad_state(energy_fn, tree_cast_like(position, chain_position))
        momentum = tree_cast_like(tree_axpy(-0.5 * step_size, new.energy_grad, momentum), momentum)
        return position, new.energy, new.energy_grad, momentum

    start = (tree_upcast(state.position), state.energy, state.energy_grad, momentum)
    position, energy, energy_grad, momentum = jax.lax.fori_loop(0, num_steps, one_step, start)
    return LangevinState(tree_cast_like(position, chain_position), energy, energy_grad), momentum


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
        # p ~ N(0, T M); exactly 0 at beta = inf.
        momentum = momentum_from_noise(self.inverse_mass_matrix, noise, beta)
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
            + kinetic_energy(self.inverse_mass_matrix, end_momentum)
            - kinetic_energy(self.inverse_mass_matrix, momentum)
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

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.hmc(lambda x: 0.5 * jnp.sum(x**2), 0.2, 10)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.zeros(2)), 1.0)
    """
    check_positive("step_size", step_size)
    if not isinstance(num_integration_steps, jax.core.Tracer):
        num_integration_steps = check_count("num_integration_steps", num_integration_steps)
    if inverse_mass_matrix is None:
        inverse_mass_matrix = 1.0
    check_inverse_mass_matrix(inverse_mass_matrix)
    return HamiltonianMonteCarlo(
        as_pytree_fn(energy_fn),
        jnp.asarray(step_size),
        jnp.asarray(num_integration_steps, dtype=jnp.int32),
        jax.tree_util.tree_map(jnp.asarray, inverse_mass_matrix),
    )
