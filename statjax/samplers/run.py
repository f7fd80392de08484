"""Run many chains of any kernel: vmap over chains, scan over steps, jit in chunks."""

import inspect
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from statjax._tree import as_pytree_fn
from statjax.moments import RunningMoments, running_moments_init, running_moments_update
from statjax.types import ArrayTree, BetaLike, PRNGKey

ProgressCallback = Callable[[int, int, Any], None]
"""``callback(steps_done, num_steps, states)``, called on the host between chunks."""


def run_chains(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    *,
    beta: BetaLike = 1.0,
    observe: Callable | None = None,
    thin: int = 1,
    streaming: bool = False,
    start_step: int = 0,
    chunk_size: int | None = None,
    callback: ProgressCallback | None = None,
) -> tuple[Any, Any]:
    """Advance ``num_chains`` independent chains of ``kernel`` by ``num_steps`` steps.

    The chains are ``jax.vmap``-ed over the leading axis of ``initial`` and the
    steps run as a ``jax.lax.scan`` under ``jit``, in chunks of ``chunk_size``
    steps; ``callback`` (a progress bar, a checkpoint) runs on the host between
    chunks, never per step. The kernel, the betas and a schedule's parameters are
    traced arguments: a new step size, temperature or coupling never recompiles
    (only a new energy function, ``observe`` or chunk length does).

    Keys are a function of the global step, ``fold_in(key, step)`` split over
    chains, so ``N`` steps equal two calls of ``N / 2`` steps chained through
    ``start_step``, and a run resumed from a checkpoint is bit-identical.

    Args:
        kernel: a statjax kernel (anything with ``init(position)`` and
            ``step(key, state, beta) -> (state, info)``), itself a pytree.
        key: PRNG key; any ``jax.random`` implementation.
        initial: positions with a leading chain axis, ``(num_chains, ...)`` on
            every leaf, or kernel states with that axis (e.g. the ``final``
            states of an earlier call), which are used as they are.
        num_steps: steps to take (a multiple of ``thin``).
        beta: inverse temperature: a float, an array ``(num_chains,)``, or a
            schedule ``step -> beta`` (scalar or ``(num_chains,)``) evaluated at
            the global step; every value must be finite and > 0.
        observe: ``observe(state)`` or ``observe(state, info)`` for one chain,
            returning the pytree to record. ``None`` records nothing.
        thin: record every ``thin``-th step.
        streaming: instead of a trace, return :class:`RunningMoments` (per-chain
            running mean and variance of ``observe``) so that memory does not grow
            with the number of steps.
        start_step: global index of the first step (for schedules and keys).
        chunk_size: steps per jitted call (a multiple of ``thin``). Defaults to
            the whole run, or about 1/20 of it when a ``callback`` is given.
        callback: ``callback(steps_done, num_steps, states)`` between chunks.

    Returns:
        ``(final_states, trace)``. ``trace`` is ``None`` without ``observe``; else
        stacked like ``lax.scan`` output, ``(num_steps // thin, num_chains, ...)``
        on every leaf; with ``streaming=True`` it is a :class:`RunningMoments`
        whose leaves are ``(num_chains, ...)``.

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.mala(lambda x: 0.5 * jnp.sum(x**2), 0.1)
        >>> final, energies = statjax.run_chains(
        ...     kernel, jax.random.key(0), jnp.zeros((64, 2)), 100,
        ...     beta=2.0, observe=lambda state: state.energy, thin=10)
        >>> energies.shape
        (10, 64)
    """
    num_steps, thin, start_step = _check_counts(num_steps, thin, start_step)
    if streaming and observe is None:
        raise ValueError("streaming=True needs an `observe` function whose moments to keep.")
    states = _initial_states(kernel, initial)
    num_chains = _num_chains(states)
    _check_initial_energy(states)
    beta = _prepare_beta(beta, num_chains, start_step, num_steps)
    chunk_size = _chunk_size(chunk_size, num_steps, thin, callback)
    with_info = observe is not None and _takes_info(observe)

    moments = None
    if streaming:
        example = _observe_example(kernel, states, beta, observe, with_info)
        moments = running_moments_init(example)
    chunks = []
    done = 0
    while done < num_steps:
        length = min(chunk_size, num_steps - done)
        states, moments, records = _run_chunk(
            kernel,
            key,
            states,
            beta,
            moments,
            np.int32(start_step + done),
            num_steps=length,
            thin=thin,
            observe=observe,
            with_info=with_info,
            structure=_structure_key(kernel, beta),
        )
        if records is not None:
            chunks.append(records)
        done += length
        if callback is not None:
            callback(done, num_steps, states)

    if streaming:
        return states, moments
    if observe is None:
        return states, None
    if len(chunks) == 1:
        return states, chunks[0]
    return states, jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *chunks)


@partial(jax.jit, static_argnames=("num_steps", "thin", "observe", "with_info", "structure"))
def _run_chunk(
    kernel,
    key,
    states,
    beta,
    moments,
    first_step,
    *,
    num_steps,
    thin,
    observe,
    with_info,
    structure,
):
    del structure  # a cache key only (see _structure_key)
    num_chains = _num_chains(states)
    steps = first_step + jnp.arange(num_steps)
    # The key of a step depends on its global index only, so chunks and resumed
    # runs draw the same numbers; folding all of a chunk's steps in at once, out of
    # the loop, keeps one generator call per step inside it.
    step_keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, steps)

    def one_step(states, step_and_key):
        step, step_key = step_and_key
        keys = jax.random.split(step_key, num_chains)
        return jax.vmap(kernel.step)(keys, states, _beta_at(beta, step, num_chains))

    def record_block(carry, block):
        states, moments = carry
        if thin > 1:
            states, _ = jax.lax.scan(
                lambda s, x: (one_step(s, x)[0], None),
                states,
                jax.tree_util.tree_map(lambda x: x[:-1], block),
            )
        states, info = one_step(states, jax.tree_util.tree_map(lambda x: x[-1], block))
        if observe is None:
            return (states, moments), None
        observed = _observe(observe, with_info, states, info)
        if moments is not None:
            return (states, running_moments_update(moments, observed)), None
        return (states, moments), observed

    blocks = jax.tree_util.tree_map(
        lambda x: x.reshape(num_steps // thin, thin), (steps, step_keys)
    )
    (states, moments), records = jax.lax.scan(record_block, (states, moments), blocks)
    return states, moments, records


def _observe(observe, with_info, states, info):
    if with_info:
        return jax.vmap(observe)(states, info)
    return jax.vmap(observe)(states)


def _observe_example(kernel, states, beta, observe, with_info):
    """Shapes of one observation of all chains, without running anything."""

    def observe_one_step(states):
        num_chains = _num_chains(states)
        keys = jax.random.split(jax.random.key(0), num_chains)
        new_states, info = jax.vmap(kernel.step)(keys, states, _beta_at(beta, 0, num_chains))
        return _observe(observe, with_info, new_states, info)

    shapes = jax.eval_shape(observe_one_step, states)
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def _beta_at(beta, step, num_chains) -> jax.Array:
    value = beta(step) if callable(beta) else beta
    return jnp.broadcast_to(jnp.asarray(value), (num_chains,))


def _takes_info(observe: Callable) -> bool:
    """Whether ``observe`` wants ``(state, info)`` rather than ``(state)``."""
    try:
        parameters = inspect.signature(observe).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _is_state(tree) -> bool:
    fields = getattr(tree, "_fields", ())
    return "position" in fields and "energy" in fields


def _initial_states(kernel, initial):
    if _is_state(initial):
        return initial
    _num_chains(initial)
    return _init_states(kernel, initial, structure=_structure_key(kernel))


@partial(jax.jit, static_argnames=("structure",))
def _init_states(kernel, positions, *, structure):
    del structure  # a cache key only (see _structure_key)
    return jax.vmap(kernel.init)(positions)


def _structure_key(*trees) -> str:
    """The pytree structure *with class names*, as a static cache key.

    In this JAX version two PyTreeDefs compare equal when only the classes of
    their dataclass nodes differ (a kernel over ``DoubleWell(dim=3)`` and one over
    ``NealFunnel(dim=3)``); their hashes differ, so a cache lookup mixes them up
    only on a hash collision, but then silently. The string names the classes.
    """
    return str(jax.tree_util.tree_structure(trees))


def _num_chains(tree) -> int:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError("`initial` has no arrays: expected positions with a leading chain axis.")
    shapes = [jnp.shape(leaf) for leaf in leaves]
    if any(len(shape) == 0 for shape in shapes):
        raise ValueError(
            f"every leaf of `initial` needs a leading chain axis, got shapes {shapes}; "
            "for one chain, add an axis: `x[None]`."
        )
    sizes = {shape[0] for shape in shapes}
    if len(sizes) != 1:
        raise ValueError(f"leaves of `initial` disagree on the number of chains: shapes {shapes}.")
    return sizes.pop()


def _check_initial_energy(states) -> None:
    energy = states.energy
    if isinstance(energy, jax.Array) and not energy.is_fully_addressable:
        # Chains sharded over several processes (statjax.parallel): no host sees every
        # energy; one replicated flag decides, and only bad input is gathered.
        if bool(_all_finite(energy)):
            return
        from jax.experimental import multihost_utils

        energy = multihost_utils.process_allgather(energy, tiled=True)
    energy = np.asarray(energy)
    bad = np.flatnonzero(~np.isfinite(energy))
    if bad.size:
        raise ValueError(
            f"initial energy is not finite for chains {bad[:10].tolist()}"
            f"{' ...' if bad.size > 10 else ''} (values {energy[bad[:10]].tolist()}): "
            "start every chain where E(x) is finite."
        )


@jax.jit
def _all_finite(energy):
    return jnp.all(jnp.isfinite(energy))


def _check_counts(num_steps, thin, start_step) -> tuple[int, int, int]:
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}.")
    if int(thin) != thin or thin < 1:
        raise ValueError(f"thin must be a positive integer, got {thin!r}.")
    if num_steps % thin:
        raise ValueError(f"num_steps ({num_steps}) must be a multiple of thin ({thin}).")
    if int(start_step) != start_step or start_step < 0:
        raise ValueError(f"start_step must be a non-negative integer, got {start_step!r}.")
    return int(num_steps), int(thin), int(start_step)


def _chunk_size(chunk_size, num_steps, thin, callback) -> int:
    if chunk_size is None:
        if callback is None:
            return num_steps
        return thin * max(1, math.ceil(num_steps / thin / 20))
    if int(chunk_size) != chunk_size or chunk_size < 1 or chunk_size % thin:
        raise ValueError(
            f"chunk_size must be a positive multiple of thin ({thin}), got {chunk_size}."
        )
    return int(chunk_size)


def _prepare_beta(beta, num_chains, start_step, num_steps):
    """Validate ``beta`` on the host and return it as a traced-friendly pytree."""
    if callable(beta):
        schedule = as_pytree_fn(beta)
        steps = jnp.arange(start_step, start_step + num_steps)
        values = jax.vmap(schedule)(steps)
        _check_beta_values(np.asarray(values), "the beta schedule")
        if values.ndim > 1 and values.shape[1:] != (num_chains,):
            raise ValueError(
                f"a beta schedule must return a scalar or ({num_chains},), got {values.shape[1:]}."
            )
        return schedule
    # numpy, not jax, on the host: validating a float must not cost device dispatches.
    values = np.asarray(beta)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(float)
    if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != num_chains):
        raise ValueError(
            f"beta must be a scalar or have shape ({num_chains},) (one per chain), "
            f"got shape {values.shape}."
        )
    _check_beta_values(values, "beta")
    return np.broadcast_to(values, (num_chains,))


def _check_beta_values(values: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(values) & (values > 0)):
        bad = values[~(np.isfinite(values) & (values > 0))]
        raise ValueError(
            f"{name} must be finite and > 0 (a temperature T = 1/beta > 0), got {bad[:5].tolist()}."
        )


__all__ = ["run_chains", "RunningMoments"]
