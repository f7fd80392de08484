"""What every kernel shares: the Metropolis–Hastings accept/reject step.

The accept/reject rule is written once here so that every kernel rejects a
proposal whose energy (or acceptance ratio) is NaN or +inf in the same way.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax._tree import tree_where
from statjax.types import ArrayTree, PRNGKey


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
    log_uniform = jnp.log(jax.random.uniform(key, dtype=jnp.result_type(log_acceptance_ratio)))
    return accept_with_log_uniform(log_uniform, log_acceptance_ratio, proposal, current)


def accept_with_log_uniform(
    log_uniform: jax.Array, log_acceptance_ratio: jax.Array, proposal: ArrayTree, current: ArrayTree
) -> tuple[ArrayTree, AcceptanceInfo]:
    """:func:`metropolis_hastings_accept` with the uniform already drawn, as ``log u``.

    The proposal is accepted iff ``log u < log_acceptance_ratio``, which happens with
    probability ``min(1, exp(log_acceptance_ratio))``; a NaN ratio never passes.
    """
    log_ratio = jnp.where(jnp.isnan(log_acceptance_ratio), -jnp.inf, log_acceptance_ratio)
    acceptance_rate = jnp.exp(jnp.minimum(log_ratio, 0.0))
    is_accepted = log_uniform < log_ratio
    return tree_where(is_accepted, proposal, current), AcceptanceInfo(acceptance_rate, is_accepted)


def check_positive(name: str, value, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` if a concrete ``value`` has an entry that is not finite and > 0.

    With ``allow_zero``, the bound is ``>= 0``. Traced values (inside ``jit``) and
    leaves that are not numbers (the placeholders a pytree transformation builds
    while unflattening) pass through unchecked: the check belongs at the Python
    boundary, where the numbers are known.
    """
    bound = ">= 0" if allow_zero else "> 0"
    for leaf in jax.tree_util.tree_leaves(value):
        if isinstance(leaf, jax.core.Tracer) or not isinstance(
            leaf, int | float | np.ndarray | np.generic | jax.Array
        ):
            continue
        array = np.asarray(leaf, dtype=np.float64)
        if not np.all(np.isfinite(array) & ((array >= 0) if allow_zero else (array > 0))):
            raise ValueError(f"{name} must be finite and {bound} everywhere, got {array}.")
