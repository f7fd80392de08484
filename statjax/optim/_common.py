"""What the SG-MCMC transforms share: schedules, seeds, step counts, checks, refusals (private).

Argument checks are :mod:`statjax.checks`'s, with the one difference the
transforms need: ``optax.inject_hyperparams`` calls a factory with traced
hyperparameters, so traced values (and schedules, checked where they are
evaluated) pass unchecked here.
"""

from typing import TypeAlias

import jax
import jax.numpy as jnp
import optax

from statjax import checks
from statjax.types import ArrayTree, PRNGKey

ScalarOrSchedule: TypeAlias = float | jax.Array | optax.Schedule


def value_at(value: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """``value(count)`` for a schedule, ``value`` itself otherwise (optax's convention)."""
    return jnp.asarray(value(count) if callable(value) else value)


def check_scalar(name: str, value: ScalarOrSchedule, allow_zero: bool = False) -> None:
    """:func:`statjax.checks.check_positive` for a number; a schedule passes (checked in use)."""
    if not callable(value):
        checks.check_positive(name, value, allow_zero=allow_zero)


def check_unit_interval(
    name: str, value: float, *, closed_left: bool = False, closed_right: bool = False
) -> None:
    """:func:`statjax.checks.check_unit_interval`: ``(0, 1)`` or ``(0, 1]``; ``closed_left`` adds 0.

    Zero is a meaningful end point of some settings (an RMSprop decay of 0, a
    cycle without an exploration stage), not of the general check.
    """
    if isinstance(value, jax.core.Tracer) or (closed_left and value == 0):
        return
    checks.check_unit_interval(name, value, closed_right=closed_right)


def seed_key(seed: int | PRNGKey, name: str = "seed") -> PRNGKey:
    """A typed PRNG key from an integer seed (``jax.random.key``) or any key (:func:`as_key`).

    A legacy ``PRNGKey(s)``, the typed ``key(s)`` and the integer ``s`` give the
    same numbers. Keys may be traced, so that ``jax.vmap(lambda k, p: sgld(...,
    seed=k).init(p))`` gives each chain its own stream; an integer scalar array
    is a seed (``optax.inject_hyperparams`` turns an integer seed into one).
    """
    if isinstance(seed, int) and not isinstance(seed, bool):
        return jax.random.key(seed)
    dtype = jnp.result_type(seed)
    if jnp.ndim(seed) == 0 and jnp.issubdtype(dtype, jnp.integer):
        return jax.random.key(seed)
    return checks.as_key(seed, name)


def step_key(key: PRNGKey, count: jax.Array) -> PRNGKey:
    """The key of step ``count``: ``fold_in(key, count)``, a function of the global step.

    As in ``run_chains``: no key is carried forward, so resuming at step ``t``
    draws the numbers an uninterrupted run would.
    """
    return jax.random.fold_in(key, count)


# ``count + 1`` saturating at the integer maximum, as optax's schedules count steps
# (``safe_int32_increment`` before optax 0.2.4).
increment = getattr(optax, "safe_increment", None) or optax.safe_int32_increment


def all_finite(tree: ArrayTree) -> jax.Array:
    """One boolean: whether every entry of every leaf of ``tree`` is finite.

    One flag for the whole tree, because a refused step is refused as a whole
    (a partial update would move some coordinates and not others).
    """
    flags = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(flags)) if flags else jnp.asarray(True)


def keep_if(accept: jax.Array, new: ArrayTree, old: ArrayTree) -> ArrayTree:
    """``new`` where ``accept``, else ``old``, leaf by leaf (exactly ``new`` when accepted)."""
    return jax.tree_util.tree_map(lambda n, o: jnp.where(accept, n, o), new, old)


def zero_unless(accept: jax.Array, updates: ArrayTree) -> ArrayTree:
    """``updates`` where ``accept``, zeros elsewhere: a refused step moves nothing.

    Apply it to the *kept* momentum (``keep_if`` first), not to the fresh one:
    two selects of one fresh value make XLA compute its noise twice.
    """
    return keep_if(accept, updates, jax.tree_util.tree_map(jnp.zeros_like, updates))


def count_refusal(num_refused: jax.Array, accept: jax.Array) -> jax.Array:
    """``num_refused + 1`` for a refused step, unchanged otherwise."""
    return jnp.where(accept, num_refused, increment(num_refused))
