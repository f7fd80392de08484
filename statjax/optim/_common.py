"""What the SG-MCMC transforms share: schedules, seeds, step counts, argument checks (private)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from statjax.types import PRNGKey

ScalarOrSchedule = float | jax.Array | optax.Schedule


def value_at(value: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """``value(count)`` for a schedule, ``value`` itself otherwise (optax's convention)."""
    return jnp.asarray(value(count) if callable(value) else value)


def check_scalar(name: str, value: ScalarOrSchedule, allow_zero: bool = False) -> None:
    """``ValueError`` unless a concrete ``value`` is finite and > 0 (>= 0 with ``allow_zero``).

    Schedules and traced values pass: a schedule is checked where it is evaluated.
    """
    if callable(value) or isinstance(value, jax.core.Tracer):
        return
    # NumPy, not jax.numpy: under a trace (a factory called inside jit or vmap)
    # jax.numpy would stage even a constant, and the check could not be read.
    array = np.asarray(value)
    lower_ok = array >= 0 if allow_zero else array > 0
    if not bool(np.all(np.isfinite(array) & lower_ok)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound} (or a schedule), got {value}.")


def check_unit_interval(name: str, value: float, closed_right: bool = False) -> None:
    """``ValueError`` unless a concrete ``value`` is in [0, 1), or [0, 1] if ``closed_right``."""
    if isinstance(value, jax.core.Tracer):
        return
    value = float(value)
    ok = 0.0 <= value <= 1.0 if closed_right else 0.0 <= value < 1.0
    if not (math.isfinite(value) and ok):
        interval = "[0, 1]" if closed_right else "[0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {value}.")


def as_key(seed: int | PRNGKey) -> PRNGKey:
    """A PRNG key from an integer seed (``jax.random.key``) or a key (kept as it is).

    Keys may be traced, so that ``jax.vmap(lambda k, p: sgld(..., seed=k).init(p))``
    gives each chain its own stream.
    """
    if isinstance(seed, int):
        return jax.random.key(seed)
    is_typed_key = jax.dtypes.issubdtype(jnp.result_type(seed), jax.dtypes.prng_key)
    if not is_typed_key and jnp.ndim(seed) == 0:
        # An integer seed that became an array (``optax.inject_hyperparams`` does this).
        return jax.random.key(seed)
    return seed


def step_key(key: PRNGKey, count: jax.Array) -> PRNGKey:
    """The key of step ``count``: ``fold_in(key, count)``, a function of the global step.

    As in ``run_chains``: no key is carried forward, so resuming at step ``t``
    draws the numbers an uninterrupted run would.
    """
    return jax.random.fold_in(key, count)


# ``count + 1`` saturating at the integer maximum, as optax's schedules count steps
# (``safe_int32_increment`` before optax 0.2.4).
increment = getattr(optax, "safe_increment", None) or optax.safe_int32_increment
