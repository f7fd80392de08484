"""Random-walk Metropolis with a Gaussian proposal."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax._tree import as_pytree_fn, normal_and_log_uniform_like, tree_axpy
from statjax.pytree import Pytree
from statjax.samplers.base import AcceptanceInfo, accept_with_log_uniform, check_positive
from statjax.types import ArrayTree, EnergyFn, PRNGKey


class MetropolisState(NamedTuple):
    """State of a random-walk Metropolis chain.

    Attributes:
        position: the current point (any pytree).
        energy: the untempered energy ``E(position)``.
    """

    position: ArrayTree
    energy: jax.Array


class RandomWalkMetropolis(Pytree):
    """Random-walk Metropolis kernel targeting ``p(x) ∝ exp(-beta E(x))``.

    Proposal ``x' = x + step_size * xi`` with ``xi ~ N(0, I)``, accepted with
    probability ``min(1, exp(-beta (E(x') - E(x))))`` (Metropolis et al. 1953).
    The proposal scale does not depend on ``beta``: a hot chain takes the same
    steps as a cold one and accepts more of them.

    Build it with :func:`metropolis`. ``energy_fn`` and ``step_size`` are pytree
    leaves, so a new step size or energy parameter never recompiles.
    """

    energy_fn: EnergyFn
    step_size: ArrayTree

    def init(self, position: ArrayTree) -> MetropolisState:
        """Start a chain at ``position``, caching its energy."""
        return MetropolisState(position, jnp.asarray(self.energy_fn(position)))

    def step(
        self, key: PRNGKey, state: MetropolisState, beta: jax.typing.ArrayLike
    ) -> tuple[MetropolisState, AcceptanceInfo]:
        """One Metropolis step at inverse temperature ``beta``."""
        noise, log_uniform = normal_and_log_uniform_like(key, state.position)
        position = tree_axpy(self.step_size, noise, state.position)
        proposal = MetropolisState(position, jnp.asarray(self.energy_fn(position)))
        log_ratio = -beta * (proposal.energy - state.energy)
        return accept_with_log_uniform(log_uniform, log_ratio, proposal, state)


def metropolis(energy_fn: EnergyFn, step_size: ArrayTree = 0.1) -> RandomWalkMetropolis:
    """Random-walk Metropolis kernel for the energy ``energy_fn``.

    Args:
        energy_fn: ``E(x) -> scalar``; the target is ``exp(-beta E(x))``.
        step_size: proposal standard deviation: a scalar, or a pytree shaped like
            the position for a scale per dimension.

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.metropolis(lambda x: 0.5 * jnp.sum(x**2), 0.5)
        >>> state = kernel.init(jnp.zeros(3))
        >>> state, info = kernel.step(jax.random.key(0), state, 1.0)
    """
    check_positive("step_size", step_size)
    return RandomWalkMetropolis(
        as_pytree_fn(energy_fn), jax.tree_util.tree_map(jnp.asarray, step_size)
    )
