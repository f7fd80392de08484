"""Checks at statjax's boundary: keys, counts, temperatures, energies, positions.

One module, so that every entry point refuses bad input with the same words
(optax keeps its argument checks together in the same way). Host-side checks
raise ``ValueError``/``TypeError`` naming the argument, the value and what was
expected; the trace-time checks (:func:`scalar_energy`,
:func:`check_floating_position`) read only static shapes and dtypes, so they
cost nothing at run time and work under ``jit`` and ``vmap``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from statjax.types import ArrayTree, PRNGKey


def as_key(key: Any, name: str = "key") -> PRNGKey:
    """``key`` as a typed PRNG key: legacy ``uint32[..., 2]`` keys are wrapped, typed keys pass.

    A legacy key ``jax.random.PRNGKey(s)`` and the typed ``jax.random.key(s)``
    wrap the same bits, so both give the same numbers at every statjax entry
    point. Typed keys of any implementation (``impl="rbg"``, ...) are kept.
    """
    if isinstance(key, jax.Array | np.ndarray) and jax.dtypes.issubdtype(
        key.dtype, jax.dtypes.prng_key
    ):
        return key  # type: ignore[return-value]
    array = jnp.asarray(key) if not isinstance(key, jax.core.Tracer) else key
    if array.dtype != jnp.uint32 or array.shape[-1:] != (2,):
        raise TypeError(
            f"{name} must be a PRNG key: jax.random.key(seed) or jax.random.PRNGKey(seed); "
            f"got {type(key).__name__} with dtype {array.dtype} and shape {array.shape}."
        )
    return jax.random.wrap_key_data(array)


def _is_concrete_number(leaf: Any) -> bool:
    return not isinstance(leaf, jax.core.Tracer) and isinstance(
        leaf, numbers.Number | np.ndarray | np.generic | jax.Array
    )


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` if a concrete ``value`` has an entry that is not finite and > 0.

    With ``allow_zero``, the bound is ``>= 0``. Traced values (inside ``jit``) and
    leaves that are not numbers (placeholders a pytree transformation builds while
    unflattening) pass unchecked: the check belongs where the numbers are known.
    """
    bound = ">= 0" if allow_zero else "> 0"
    for leaf in jax.tree_util.tree_leaves(value):
        if not _is_concrete_number(leaf):
            continue
        array = np.asarray(leaf, dtype=np.float64)
        if not np.all(np.isfinite(array) & ((array >= 0) if allow_zero else (array > 0))):
            raise ValueError(f"{name} must be finite and {bound} everywhere, got {array}.")


def check_finite(name: str, value: Any) -> None:
    """Raise ``ValueError`` if a concrete ``value`` has a NaN or infinite entry."""
    for leaf in jax.tree_util.tree_leaves(value):
        if _is_concrete_number(leaf) and not np.all(np.isfinite(np.asarray(leaf, np.float64))):
            raise ValueError(f"{name} must be finite, got {np.asarray(leaf)}.")


def check_count(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is a whole number ``>= minimum``; else ``ValueError``.

    Refuses ``2.5`` (which ``int()`` would silently truncate) and booleans, so
    ``hmc(E, 0.1, 2.5)`` is an error rather than two leapfrog steps.
    """
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{name} must be a concrete integer, not a traced value.")
    is_number = not isinstance(value, bool) and isinstance(
        value, numbers.Real | np.ndarray | np.generic | jax.Array
    )
    is_whole = is_number and np.ndim(value) == 0 and float(value) == int(value)
    if not is_whole or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_unit_interval(name: str, value: float, *, closed_right: bool = False) -> None:
    """Raise ``ValueError`` unless ``0 < value < 1`` (or ``<= 1`` with ``closed_right``)."""
    upper_ok = value <= 1.0 if closed_right else value < 1.0
    if not (np.isfinite(value) and value > 0.0 and upper_ok):
        interval = "(0, 1]" if closed_right else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}.")


def check_beta_values(values: np.ndarray, name: str = "beta") -> None:
    """Raise ``ValueError`` unless every inverse temperature is > 0 (``+inf`` allowed).

    ``beta = +inf`` is zero temperature (``T = 1 / beta = 0``): every kernel then
    takes its greedy limit (docs/design-decisions.md, "One temperature
    convention"). NaN, zero and negative values are refused.
    """
    values = np.asarray(values, dtype=np.float64)
    good = ~np.isnan(values) & (values > 0)
    if not np.all(good):
        raise ValueError(
            f"{name} must be > 0 (a temperature T = 1/beta >= 0; beta = inf is T = 0), "
            f"got {values[~good][:5].tolist()}."
        )


def num_chains(tree: ArrayTree, name: str = "initial") -> int:
    """The common leading (chain) axis of every leaf of ``tree``; ``ValueError`` otherwise."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError(f"`{name}` has no arrays: expected positions with a leading chain axis.")
    shapes = [jnp.shape(leaf) for leaf in leaves]
    if any(len(shape) == 0 for shape in shapes):
        raise ValueError(
            f"every leaf of `{name}` needs a leading chain axis, got shapes {shapes}; "
            "for one chain, add an axis: `x[None]`."
        )
    sizes = {shape[0] for shape in shapes}
    if len(sizes) != 1:
        raise ValueError(f"leaves of `{name}` disagree on the number of chains: shapes {shapes}.")
    return sizes.pop()


def scalar_energy(energy_fn: Callable, position: ArrayTree) -> jax.Array:
    """``energy_fn(position)`` as an array, refused unless it is one scalar.

    An energy that returns a vector would make a kernel accept or reject each
    entry separately; shapes are static, so the error comes at trace time.
    """
    energy = jnp.asarray(energy_fn(position))
    if energy.shape != ():
        raise ValueError(
            "the energy must return one scalar per position, got shape "
            f"{energy.shape} for a position of shape(s) "
            f"{[jnp.shape(x) for x in jax.tree_util.tree_leaves(position)]}; "
            "sum the terms (E(x) = sum_i e_i(x)), or vmap the energy over a batch."
        )
    if not jnp.issubdtype(energy.dtype, jnp.floating):
        energy = energy.astype(jnp.result_type(float))
    return energy


def check_floating_position(position: ArrayTree, kernel: str) -> None:
    """Raise ``TypeError`` unless every leaf of ``position`` is floating point.

    Gradient kernels (ULA, MALA, HMC, ...) differentiate the energy; an integer
    position has no gradient.
    """
    for leaf in jax.tree_util.tree_leaves(position):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"{kernel} needs floating-point positions (it follows the energy's gradient), "
                f"got dtype {dtype}; convert them, e.g. x.astype(jnp.float32)."
            )


def check_initial_energy(energy: jax.Array, what: str = "chains") -> None:
    """Raise ``ValueError`` naming the entries whose starting energy is not finite.

    ``energy`` may have any shape (``(num_chains,)``, ``(num_chains,
    num_replicas)``); the message gives the multi-indices of the bad entries.
    Chains sharded over several processes are checked with one replicated flag,
    and only bad input is gathered.
    """
    if isinstance(energy, jax.Array) and not energy.is_fully_addressable:
        if bool(_all_finite(energy)):
            return
        from jax.experimental import multihost_utils

        energy = multihost_utils.process_allgather(energy, tiled=True)
    values = np.asarray(energy)
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        where = [tuple(int(i) for i in index) for index in bad[:10]]
        if values.ndim == 1:
            where = [index[0] for index in where]  # type: ignore[misc]
        shown = [values[tuple(index)].item() for index in bad[:10]]
        raise ValueError(
            f"initial energy is not finite for {what} {where}"
            f"{' ...' if len(bad) > 10 else ''} (values {shown}): "
            "start every chain where E(x) is finite."
        )


@jax.jit
def _all_finite(energy):
    return jnp.all(jnp.isfinite(energy))


__all__ = [
    "as_key",
    "check_beta_values",
    "check_count",
    "check_finite",
    "check_floating_position",
    "check_initial_energy",
    "check_positive",
    "check_unit_interval",
    "num_chains",
    "scalar_energy",
]
