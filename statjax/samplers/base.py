"""The kernel contract, and the Metropolis–Hastings accept/reject step every kernel shares.

**The contract.** A kernel is a pytree (a :class:`statjax.pytree.Pytree`: its
numbers are leaves, its functions static) with two pure methods,

    state = kernel.init(position)
    state, info = kernel.step(key, state, beta)

written down below as the Protocols :class:`Kernel`, :class:`ChainState` and
:class:`StepInfo`. ``tests/samplers/test_contract.py`` checks every kernel in
statjax against them. What each field means, for every kernel:

- ``state.position``: the microstate (any pytree; spins for lattice kernels; the
  stacked replicas for replica exchange).
- ``state.energy``: the *untempered* energy ``E(position)``, so a change of
  ``beta`` costs nothing (one entry per replica for replica exchange).
- ``info.acceptance_rate``: the probability with which the step's proposal
  would be accepted, ``min(1, exp(log_ratio))``. Rejection-free kernels report
  1 for a finite update (0 for a refused non-finite one). A sweep over sites
  reports the *mean over sites* of the per-site acceptance probability (for
  heat bath: the mean probability that a site takes a new value); replica
  exchange reports the mean swap acceptance probability over the pairs
  proposed this round. Adaptation and ladder tuning read this number.
- ``info.is_accepted``: whether the state moved: the proposal was taken (for
  sweeps: at least one site changed; for replica exchange: at least one swap).
- ``step`` takes ``beta`` as a traced scalar (the driver passes one per chain);
  ``init`` takes only the position.
- A proposal whose energy is NaN, ``+inf`` or ``-inf`` is refused: ``-inf``
  would be a state of infinite weight that a chain could never leave, so it is
  treated as a bug in the energy rather than a mode (docs/design-decisions.md).

The accept/reject rule is written once here so that every kernel rejects a
proposal whose energy (or acceptance ratio) is NaN or +inf in the same way.
"""

from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

import jax
import jax.numpy as jnp

from statjax._tree import tree_where
from statjax.checks import check_positive
from statjax.random import log_uniform as random_log_uniform
from statjax.types import ArrayTree, PRNGKey


@runtime_checkable
class ChainState(Protocol):
    """What every kernel state has: the position and its untempered energy."""

    @property
    def position(self) -> ArrayTree:
        """The microstate (any pytree)."""
        ...

    @property
    def energy(self) -> jax.Array:
        """The untempered energy ``E(position)``."""
        ...


@runtime_checkable
class StepInfo(Protocol):
    """What every step reports (see the module docstring for the one meaning)."""

    @property
    def acceptance_rate(self) -> jax.Array:
        """The probability with which the step's proposal would be accepted."""
        ...

    @property
    def is_accepted(self) -> jax.Array:
        """Whether the state moved."""
        ...


StateT = TypeVar("StateT", bound=ChainState)


@runtime_checkable
class Kernel(Protocol[StateT]):
    """A Markov kernel for ``exp(-beta E)``: ``init(position)`` and ``step(key, state, beta)``."""

    def init(self, position: Any) -> StateT:
        """Start a chain at ``position``."""
        ...

    def step(self, key: PRNGKey, state: StateT, beta: jax.typing.ArrayLike) -> tuple[StateT, Any]:
        """Advance one chain by one step at inverse temperature ``beta``."""
        ...


class AcceptanceInfo(NamedTuple):
    """Outcome of one Metropolis–Hastings decision.

    Attributes:
        acceptance_rate: ``min(1, exp(log_ratio))``, zero for a NaN ratio.
        is_accepted: whether the proposal replaced the current state.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array


def metropolis_hastings_accept(
    key: PRNGKey, log_acceptance_ratio: jax.Array, proposal: ArrayTree, current: ArrayTree
) -> tuple[ArrayTree, AcceptanceInfo]:
    """Accept ``proposal`` with probability ``min(1, exp(log_acceptance_ratio))``.

    Metropolis et al. (1953); Hastings (1970). A NaN ratio (a proposal whose
    energy is NaN, or NaN gradients along a trajectory) counts as ``-inf``: such a
    proposal is always rejected, so a chain never enters a region where the energy
    is undefined. A proposal with energy ``+inf`` has ratio ``-inf`` and is
    rejected too.

    Args:
        key: PRNG key for the uniform draw.
        log_acceptance_ratio: scalar ``log pi(x') q(x|x') - log pi(x) q(x'|x)``.
        proposal: candidate state (any pytree).
        current: current state, with the same structure.

    Returns:
        The new state and an :class:`AcceptanceInfo`.
    """
    log_uniform = random_log_uniform(key, jnp.result_type(log_acceptance_ratio))
    return accept_with_log_uniform(log_uniform, log_acceptance_ratio, proposal, current)


def accept_with_log_uniform(
    log_uniform: jax.Array, log_acceptance_ratio: jax.Array, proposal: ArrayTree, current: ArrayTree
) -> tuple[ArrayTree, AcceptanceInfo]:
    """:func:`metropolis_hastings_accept` with the uniform already drawn, as ``log u``.

    The proposal is accepted iff ``log u < log_acceptance_ratio``, which happens with
    probability ``min(1, exp(log_acceptance_ratio))``; a NaN ratio never passes.
    """
    log_ratio = jnp.where(jnp.isnan(log_acceptance_ratio), -jnp.inf, log_acceptance_ratio)
    proposed_energy = getattr(proposal, "energy", None)
    if proposed_energy is not None:
        # E(x') = -inf is no state of a normalisable density: refused like NaN and +inf,
        # so a chain never falls into a hole it cannot leave.
        log_ratio = jnp.where(jnp.isneginf(proposed_energy), -jnp.inf, log_ratio)
    acceptance_rate = jnp.exp(jnp.minimum(log_ratio, 0.0))
    is_accepted = log_uniform < log_ratio
    return tree_where(is_accepted, proposal, current), AcceptanceInfo(acceptance_rate, is_accepted)


__all__ = [
    "AcceptanceInfo",
    "ChainState",
    "Kernel",
    "StepInfo",
    "accept_with_log_uniform",
    "check_positive",
    "metropolis_hastings_accept",
]
