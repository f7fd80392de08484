"""Run many chains of any kernel: host-side checks and chunks around the one driver."""

from __future__ import annotations

import inspect
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from statjax import random as statjax_random
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
    progress: bool = False,
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
        progress: show a progress bar (``tqdm.auto``: steps done, rate, time
            left; a widget in a notebook, text in a terminal), updated between
            chunks (about 20 of them unless ``chunk_size`` is given).

    Returns:
        ``(final_states, trace)``. ``trace`` is ``None`` without ``observe``; else
        stacked like ``lax.scan`` output, ``(num_steps // thin, num_chains, ...)``
        on every leaf; with ``streaming=True`` it is a :class:`RunningMoments`
        whose leaves are ``(num_chains, ...)``.

    Examples:
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
    states = _cached_initial_states(kernel, initial, per_chain)
    if not _known_finite(states.energy):
        check_initial_energy(states.energy, what=getattr(kernel, "energy_axes", "chains"))
    beta = prepare_beta(beta, num_chains, start_step, num_steps)
    chunk_size = _chunk_size(chunk_size, num_steps, thin, callback or progress)
    observe = None if observe is None else with_info(observe)
    reducer = MOMENTS if streaming else None
    bar = _progress_bar(num_steps) if progress else None

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
            # The random-number backend is read at trace time: part of the cache key.
            structure=(structure_key((kernel, beta)), statjax_random.get_backend()),
        )
        if streaming:
            carry = output
        elif output is not None:
            chunks.append(output)
        done += length
        if bar is not None:
            # Dispatch is asynchronous: wait for the chunk, so the bar shows work done.
            jax.block_until_ready(states)
            bar.update(length)
        if callback is not None:
            callback(done, num_steps, states)
    if bar is not None:
        bar.close()
    # Every kernel refuses proposals of non-finite energy (statjax.samplers.base), so
    # chains that started finite end finite: a later call continuing them skips the check.
    _remember_finite(states.energy)

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
    try:
        return _with_info_cached(observe)
    except TypeError:  # an unhashable callable: inspect it every time
        return observe if _takes_info(observe) else _StateOnly(observe)


@lru_cache(maxsize=64)
def _with_info_cached(observe: Callable) -> Callable:
    # inspect.signature costs ~20 us; a function's signature does not change.
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


def _progress_bar(num_steps: int) -> Any:
    from tqdm.auto import tqdm  # imported on first use: most runs show no bar

    return tqdm(total=num_steps, unit="step", desc="run_chains", dynamic_ncols=True)


# ----------------------------------------------------------------- host-side caches
#
# A run_chains call in a loop (continuing chains chunk by chunk, a notebook cell run
# again) used to pay ~0.1 ms of host work and, worse, a device->host wait for the
# initial-energy check. What does not change between such calls is cached, keyed
# by the identity of immutable jax arrays (never numpy arrays, which can change in
# place): energies known finite, and the states built from given positions.

_finite_energies: dict[int, weakref.ref] = {}


def _known_finite(energy: Any) -> bool:
    """Whether ``energy`` is an array already checked finite (or produced from one)."""
    ref = _finite_energies.get(id(energy))
    return ref is not None and ref() is energy


def _remember_finite(energy: Any) -> None:
    if not isinstance(energy, jax.Array) or isinstance(energy, jax.core.Tracer):
        return
    key = id(energy)

    def forget(ref, key=key):
        if _finite_energies.get(key) is ref:
            del _finite_energies[key]

    _finite_energies[key] = weakref.ref(energy, forget)


_INIT_CACHE_SIZE = 4
_init_cache: OrderedDict[tuple, tuple[list[weakref.ref], Any]] = OrderedDict()


def _cached_initial_states(kernel: Any, initial: ArrayTree, per_chain: tuple[str, ...]) -> Any:
    """:func:`initial_states`, reused while the kernel and positions are the same arrays.

    ``kernel.init`` is deterministic, so states from identical (immutable) inputs
    are identical; after an initial-energy check they are also known finite.
    """
    if is_state(initial):
        return initial
    leaves = jax.tree_util.tree_leaves((kernel, initial))
    cacheable = all(isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer) for x in leaves)
    if not cacheable:
        return initial_states(kernel, initial, per_chain)
    cache_key = (
        structure_key((kernel, initial)),
        per_chain,
        statjax_random.get_backend(),
        tuple(id(x) for x in leaves),
    )
    hit = _init_cache.get(cache_key)
    if hit is not None and all(ref() is x for ref, x in zip(hit[0], leaves, strict=True)):
        _init_cache.move_to_end(cache_key)
        return hit[1]
    states = initial_states(kernel, initial, per_chain)
    check_initial_energy(states.energy, what=getattr(kernel, "energy_axes", "chains"))
    _remember_finite(states.energy)
    _init_cache[cache_key] = ([weakref.ref(x) for x in leaves], states)
    while len(_init_cache) > _INIT_CACHE_SIZE:
        _init_cache.popitem(last=False)
    return states


def initial_states(kernel: Any, initial: ArrayTree, per_chain: Sequence[str] = ()) -> Any:
    """States from ``initial`` (positions with a chain axis, or states, kept as they are)."""
    if is_state(initial):
        return initial
    count_chains(initial)
    return _init_states(
        kernel,
        initial,
        per_chain=tuple(per_chain),
        structure=(structure_key(kernel), statjax_random.get_backend()),
    )


@partial(jax.jit, static_argnames=("per_chain", "structure"))
def _init_states(kernel, positions, *, per_chain, structure):
    del structure  # a cache key only (see statjax.pytree.structure_key)
    return init_chains(kernel, positions, per_chain)


def _check_per_chain(kernel, per_chain, num_chains) -> None:
    if not per_chain:
        return
    for leaf in per_chain_leaves(kernel, per_chain):
        if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != num_chains:
            raise ValueError(
                f"a per_chain kernel field needs a leading axis of {num_chains} chains, "
                f"got a leaf of shape {jnp.shape(leaf)}."
            )


def _check_counts(num_steps, thin, start_step) -> tuple[int, int, int]:
    if type(num_steps) is int and type(thin) is int and type(start_step) is int:
        # The common case, checked without check_count's generality (~15 us each).
        if num_steps >= 1 and thin >= 1 and start_step >= 0 and not num_steps % thin:
            return num_steps, thin, start_step
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
    if isinstance(beta, float | int) and not isinstance(beta, bool):
        return _scalar_beta(beta, num_chains)
    return _prepare_beta(beta, num_chains, start_step, num_steps)


@lru_cache(maxsize=64)
def _scalar_beta(beta: float, num_chains: int) -> np.ndarray:
    # A Python number is immutable: validate and broadcast it once (a read-only view).
    return _prepare_beta(beta, num_chains, 0, 1)


def _prepare_beta(beta: BetaLike, num_chains: int, start_step: int, num_steps: int) -> Any:
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
