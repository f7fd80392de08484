"""Run many chains of any kernel: host-side checks and chunks around the one driver."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from statjax._tree import as_pytree_fn
from statjax.checks import (
    as_key,
    check_beta_values,
    check_count,
    check_initial_energy,
)
from statjax.checks import (
    num_chains as count_chains,
)
from statjax.moments import RunningMoments, running_moments_init, running_moments_update
from statjax.pytree import structure_key
from statjax.samplers.loop import Reducer, init_chains, per_chain_leaves, sample_chains
from statjax.types import ArrayTree, BetaLike, PRNGKey

ProgressCallback = Callable[[int, int, Any], None]
"""``callback(steps_done, num_steps, states)``, called on the host between chunks."""

MOMENTS = Reducer(
    init=running_moments_init,
    update=lambda moments, record, step: running_moments_update(moments, record),
)
"""Streaming per-chain mean and variance of the records (``streaming=True``)."""


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
    per_chain: Sequence[str] = (),
) -> tuple[Any, Any]:
    """Advance ``num_chains`` independent chains of ``kernel`` by ``num_steps`` steps.

    Host-side checks and chunking around :func:`statjax.samplers.loop.sample_chains`,
    the one driver: the chains are ``jax.vmap``-ped over the leading axis of
    ``initial`` and the steps run as a ``jax.lax.scan`` under ``jit``, in chunks of
    ``chunk_size`` steps; ``callback`` (a progress bar, a checkpoint) runs on the
    host between chunks, never per step. The kernel, the betas and a schedule's
    parameters are traced arguments: a new step size, temperature, coupling or
    schedule never recompiles (only a new energy function, ``observe`` or chunk
    length does).

    Keys are a function of the global step, ``fold_in(key, step)`` split over
    chains, so ``N`` steps equal two calls of ``N / 2`` steps chained through
    ``start_step``, and a run resumed from a checkpoint is bit-identical. Typed
    keys of any implementation and legacy ``PRNGKey`` keys give the same numbers.

    Args:
        kernel: a statjax kernel (anything with ``init(position)`` and
            ``step(key, state, beta) -> (state, info)``), itself a pytree.
        key: PRNG key: ``jax.random.key(seed)`` (any implementation) or
            ``jax.random.PRNGKey(seed)``.
        initial: positions with a leading chain axis, ``(num_chains, ...)`` on
            every leaf, or kernel states with that axis (e.g. the ``final``
            states of an earlier call), which are used as they are.
        num_steps: steps to take (a multiple of ``thin``).
        beta: inverse temperature: a float, an array ``(num_chains,)``, or a
            schedule ``step -> beta`` (scalar or ``(num_chains,)``) evaluated at
            the global step; every value must be finite and > 0.
        observe: ``observe(state, info)`` or ``observe(state)`` for one chain,
            returning the pytree to record. ``None`` records nothing.
        thin: record every ``thin``-th step.
        streaming: instead of a trace, return :class:`RunningMoments` (per-chain
            running mean and variance of ``observe``) so that memory does not grow
            with the number of steps.
        start_step: global index of the first step (for schedules and keys).
        chunk_size: steps per jitted call (a multiple of ``thin``). Defaults to
            the whole run, or about 1/20 of it when a ``callback`` is given.
        callback: ``callback(steps_done, num_steps, states)`` between chunks.
        per_chain: names of kernel fields whose leaves carry a leading chain axis
            (``("step_size",)`` for a step size per chain); see
            :func:`statjax.samplers.loop.kernel_axes`.

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
    key = as_key(key)
    per_chain = tuple(per_chain)
    num_chains = count_chains(initial.position if is_state(initial) else initial)
    _check_per_chain(kernel, per_chain, num_chains)
    states = initial_states(kernel, initial, per_chain)
    check_initial_energy(states.energy, what=getattr(kernel, "energy_axes", "chains"))
    beta = prepare_beta(beta, num_chains, start_step, num_steps)
    chunk_size = _chunk_size(chunk_size, num_steps, thin, callback)
    observe = None if observe is None else with_info(observe)
    reducer = MOMENTS if streaming else None

    carry = None
    chunks = []
    done = 0
    while done < num_steps:
        length = min(chunk_size, num_steps - done)
        states, output = _run_chunk(
            kernel,
            key,
            states,
            beta,
            carry,
            np.int32(start_step + done),
            num_steps=length,
            thin=thin,
            observe=observe,
            reducer=reducer,
            per_chain=per_chain,
            structure=structure_key((kernel, beta)),
        )
        if streaming:
            carry = output
        elif output is not None:
            chunks.append(output)
        done += length
        if callback is not None:
            callback(done, num_steps, states)

    if streaming:
        return states, carry
    if observe is None:
        return states, None
    if len(chunks) == 1:
        return states, chunks[0]
    return states, jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *chunks)


@partial(
    jax.jit,
    static_argnames=("num_steps", "thin", "observe", "reducer", "per_chain", "structure"),
)
def _run_chunk(
    kernel,
    key,
    states,
    beta,
    carry,
    first_step,
    *,
    num_steps,
    thin,
    observe,
    reducer,
    per_chain,
    structure,
):
    del structure  # a cache key only (see statjax.pytree.structure_key)
    return sample_chains(
        kernel,
        key,
        states,
        num_steps,
        beta=beta,
        start_step=first_step,
        thin=thin,
        observe=observe,
        reducer=reducer,
        carry=carry,
        per_chain=per_chain,
    )


class _StateOnly:
    """``observe(state)`` as ``observe(state, info)``, equal for equal functions (one compile)."""

    def __init__(self, observe: Callable):
        self.observe = observe

    def __call__(self, state, info):
        del info
        return self.observe(state)

    def __eq__(self, other):
        return isinstance(other, _StateOnly) and other.observe == self.observe

    def __hash__(self):
        return hash((_StateOnly, self.observe))


def with_info(observe: Callable) -> Callable:
    """``observe`` as a two-argument ``observe(state, info)``, as the driver calls it."""
    return observe if _takes_info(observe) else _StateOnly(observe)


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


def is_state(tree: Any) -> bool:
    """Whether ``tree`` is a kernel state (it has ``.position`` and ``.energy``)."""
    fields = getattr(tree, "_fields", ())
    return "position" in fields and "energy" in fields


def initial_states(kernel: Any, initial: ArrayTree, per_chain: Sequence[str] = ()) -> Any:
    """States from ``initial`` (positions with a chain axis, or states, kept as they are)."""
    if is_state(initial):
        return initial
    count_chains(initial)
    return _init_states(
        kernel, initial, per_chain=tuple(per_chain), structure=structure_key(kernel)
    )


@partial(jax.jit, static_argnames=("per_chain", "structure"))
def _init_states(kernel, positions, *, per_chain, structure):
    del structure  # a cache key only (see statjax.pytree.structure_key)
    return init_chains(kernel, positions, per_chain)


def _check_per_chain(kernel, per_chain, num_chains) -> None:
    for leaf in per_chain_leaves(kernel, per_chain):
        if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != num_chains:
            raise ValueError(
                f"a per_chain kernel field needs a leading axis of {num_chains} chains, "
                f"got a leaf of shape {jnp.shape(leaf)}."
            )


def _check_counts(num_steps, thin, start_step) -> tuple[int, int, int]:
    num_steps = check_count("num_steps", num_steps)
    thin = check_count("thin", thin)
    if num_steps % thin:
        raise ValueError(f"num_steps ({num_steps}) must be a multiple of thin ({thin}).")
    return num_steps, thin, check_count("start_step", start_step, minimum=0)


def _chunk_size(chunk_size, num_steps, thin, callback) -> int:
    if chunk_size is None:
        if callback is None:
            return num_steps
        return thin * max(1, math.ceil(num_steps / thin / 20))
    size = check_count("chunk_size", chunk_size)
    if size % thin:
        raise ValueError(
            f"chunk_size must be a positive multiple of thin ({thin}), got {chunk_size}."
        )
    return size


def prepare_beta(beta: BetaLike, num_chains: int, start_step: int, num_steps: int) -> Any:
    """Validate ``beta`` on the host and return it as a traced-friendly pytree."""
    if callable(beta):
        schedule = as_pytree_fn(beta)
        steps = jnp.arange(start_step, start_step + num_steps)
        values = jax.vmap(schedule)(steps)
        check_beta_values(np.asarray(values), "the beta schedule")
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
    check_beta_values(values, "beta")
    return np.broadcast_to(values, (num_chains,))


__all__ = ["RunningMoments", "initial_states", "prepare_beta", "run_chains", "with_info"]
