r"""Metropolis with a symmetric proposal: a Gaussian random walk by default, or any.

Metropolis, Rosenbluth, Rosenbluth, Teller & Teller (1953). A proposal
``x' ~ q(. | x)`` with ``q(x' | x) = q(x | x')`` is accepted with probability

.. math::

    \min\big(1, \exp(-\beta (E(x') - E(x)))\big).

At ``beta = +inf`` (zero temperature) this is a greedy descent: the proposal is
accepted iff its energy is strictly lower (``-beta * 0`` would be ``NaN``; a tie
is refused). Simulated annealing (:mod:`statjax.anneal`) is this kernel under a
temperature schedule.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax._tree import as_pytree_fn, tree_axpy
from statjax.checks import check_positive, scalar_energy
from statjax.pytree import Pytree
from statjax.random import log_uniform as random_log_uniform
from statjax.random import normal_and_log_uniform_like
from statjax.samplers.base import AcceptanceInfo, accept_with_log_uniform
from statjax.types import ArrayTree, EnergyFn, PRNGKey

Proposal = Callable[[PRNGKey, ArrayTree], ArrayTree]
"""``proposal(key, position) -> new position`` for one chain; symmetric, ``q(x'|x) = q(x|x')``."""


class MetropolisState(NamedTuple):
    """State of a Metropolis chain.

    Attributes:
        position: the current point (any pytree).
        energy: the untempered energy ``E(position)``.
    """

    position: ArrayTree
    energy: jax.Array


def _accept(energy_fn, position, log_uniform, state, beta):
    """Metropolis's decision on a proposed ``position``, ``log u`` already drawn."""
    proposal = MetropolisState(position, scalar_energy(energy_fn, position))
    energy_change = proposal.energy - state.energy
    # At beta = inf a tie would give -inf * 0 = NaN: a tie is refused there (strict
    # descent), as the NaN rule of accept_with_log_uniform would, but said here.
    log_ratio = jnp.where(
        (energy_change == 0) & jnp.isposinf(beta), -jnp.inf, -beta * energy_change
    )
    return accept_with_log_uniform(log_uniform, log_ratio, proposal, state)


class RandomWalkMetropolis(Pytree):
    """Random-walk Metropolis kernel targeting ``p(x) ∝ exp(-beta E(x))``.

    Proposal ``x' = x + step_size * xi`` with ``xi ~ N(0, I)``, accepted with
    probability ``min(1, exp(-beta (E(x') - E(x))))`` (Metropolis et al. 1953);
    at ``beta = +inf`` iff ``E(x') < E(x)``. The proposal scale does not depend on
    ``beta``: a hot chain takes the same steps as a cold one and accepts more of
    them.

    Build it with :func:`metropolis`. ``energy_fn`` and ``step_size`` are pytree
    leaves, so a new step size or energy parameter never recompiles.
    """

    energy_fn: EnergyFn
    step_size: ArrayTree

    def init(self, position: ArrayTree) -> MetropolisState:
        """Start a chain at ``position``, caching its energy."""
        return MetropolisState(position, scalar_energy(self.energy_fn, position))

    def step(
        self, key: PRNGKey, state: MetropolisState, beta: jax.typing.ArrayLike
    ) -> tuple[MetropolisState, AcceptanceInfo]:
        """One Metropolis step at inverse temperature ``beta`` (``+inf``: greedy)."""
        # The noise and the accept uniform from one generator call (see _tree).
        noise, log_uniform = normal_and_log_uniform_like(key, state.position)
        position = tree_axpy(self.step_size, noise, state.position)
        return _accept(self.energy_fn, position, log_uniform, state, beta)


class ProposalMetropolis(Pytree):
    """Metropolis kernel with any symmetric ``proposal(key, x) -> x'``.

    Accepted with probability ``min(1, exp(-beta (E(x') - E(x))))``, at ``beta =
    +inf`` iff ``E(x') < E(x)``; the proposal must satisfy ``q(x' | x) = q(x |
    x')``. Build it with :func:`metropolis` and ``proposal=``; the proposal's
    numbers are leaves (when it is a pytree), so a new scale never recompiles.
    """

    energy_fn: EnergyFn
    proposal: Proposal

    def init(self, position: ArrayTree) -> MetropolisState:
        """Start a chain at ``position``, caching its energy."""
        return MetropolisState(position, scalar_energy(self.energy_fn, position))

    def step(
        self, key: PRNGKey, state: MetropolisState, beta: jax.typing.ArrayLike
    ) -> tuple[MetropolisState, AcceptanceInfo]:
        """One Metropolis step at inverse temperature ``beta`` (``+inf``: greedy)."""
        key_proposal, key_accept = jax.random.split(key)
        position = self.proposal(key_proposal, state.position)
        dtype = jnp.promote_types(jnp.result_type(state.energy), jnp.float32)
        log_uniform = random_log_uniform(key_accept, dtype)
        return _accept(self.energy_fn, position, log_uniform, state, beta)


def metropolis(
    energy_fn: EnergyFn, step_size: ArrayTree = 0.1, proposal: Proposal | None = None
) -> RandomWalkMetropolis | ProposalMetropolis:
    """Metropolis kernel for the energy ``energy_fn``: Gaussian random walk or ``proposal``.

    Args:
        energy_fn: ``E(x) -> scalar``; the target is ``exp(-beta E(x))``. An energy
            that returns more than one number is refused when the kernel is traced.
        step_size: the Gaussian random walk's standard deviation: a scalar, or a
            pytree shaped like the position for a scale per leaf or per entry. Not
            used when a ``proposal`` is given.
        proposal: a symmetric ``proposal(key, position) -> new position`` for one
            chain, replacing the random walk. Make it a pytree (a
            :class:`statjax.pytree.Pytree` with ``__call__``, or a ``Partial``) so
            that its numbers are leaves and a new scale never recompiles; a plain
            function is compiled by its identity.

    Returns:
        A :class:`RandomWalkMetropolis`, or with a ``proposal`` a
        :class:`ProposalMetropolis`.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.metropolis(lambda x: 0.5 * jnp.sum(x**2), 0.5)
        >>> state = kernel.init(jnp.zeros(3))
        >>> state, info = kernel.step(jax.random.key(0), state, 1.0)
        >>> uniform = jax.tree_util.Partial(
        ...     lambda width, key, x: x + jax.random.uniform(key, x.shape, minval=-width,
        ...                                                  maxval=width), 0.5)
        >>> kernel = statjax.samplers.metropolis(lambda x: jnp.sum(x**2), proposal=uniform)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.ones(3)), jnp.inf)
    """
    check_positive("step_size", step_size)
    if proposal is not None:
        return ProposalMetropolis(as_pytree_fn(energy_fn), as_pytree_fn(proposal))
    return RandomWalkMetropolis(
        as_pytree_fn(energy_fn), jax.tree_util.tree_map(jnp.asarray, step_size)
    )


__all__ = [
    "MetropolisState",
    "Proposal",
    "ProposalMetropolis",
    "RandomWalkMetropolis",
    "metropolis",
]
