"""The one in-graph driver that advances chains: vmap over chains, scan over steps.

Everything in statjax that moves a chain calls :func:`sample_chains` (or
:func:`statjax.run_chains`, its host-side wrapper with checks, chunks and a
progress callback): adaptation, annealing, AIS, large deviations, ladder
tuning, EBM and RBM training, Hopfield retrieval, the experiments. Nobody else
writes the loop, so there is one key rule and one way to thin and observe
(BlackJAX's ``run_inference_algorithm`` plays the same role there).

**The key rule.** The key of global step ``t`` is ``fold_in(key, t)``, split over
the chains: chain ``c`` at step ``t`` draws from ``split(fold_in(key, t),
num_chains)[c]``. So ``N`` steps equal two runs of ``N / 2`` chained through
``start_step``, every chunking gives identical bits, and a resumed run draws
exactly what the uninterrupted run would have.

**Per-chain kernel parameters.** Any leaf of the kernel may carry a leading
chain axis: name the fields in ``per_chain`` (``("step_size",)``,
``("energy_fn.tilt",)``) and the kernel is vmapped with those leaves split
over chains and every other leaf shared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from statjax.types import ArrayTree, PRNGKey

Observe = Callable[[Any, Any], ArrayTree]
"""``observe(state, info) -> record`` for one chain; vmapped over chains."""


class Reducer(NamedTuple):
    """A streaming reduction of the records instead of a stacked trace.

    Attributes:
        init: ``init(example_record) -> carry``, from a record of all chains
            (zeros shaped like one).
        update: ``update(carry, record, step) -> carry``; ``record`` holds all
            chains (leading chain axis) after global step ``step``.
    """

    init: Callable[[ArrayTree], Any]
    update: Callable[[Any, ArrayTree, jax.Array], Any]


def chain_keys(key: PRNGKey, step: jax.typing.ArrayLike, num_chains: int) -> PRNGKey:
    """Every chain's key at global step ``step``: ``split(fold_in(key, step), num_chains)``."""
    return jax.random.split(jax.random.fold_in(key, step), num_chains)


def beta_at(beta: Any, step: jax.typing.ArrayLike, num_chains: int, dtype: Any = None) -> jax.Array:
    """``beta`` at global step ``step`` as ``(num_chains,)``: a float, per-chain array or schedule.

    ``dtype`` (the chains' energy dtype, at least float32) keeps the scan carry's
    types fixed when ``jax_enable_x64`` is on and the positions are float32.
    """
    value = beta(step) if callable(beta) else beta
    value = jnp.asarray(value)
    if dtype is not None:
        value = value.astype(jnp.promote_types(dtype, jnp.float32))
    return jnp.broadcast_to(value, (num_chains,))


def _is_under(path: Any, names: Sequence[str]) -> str | None:
    """The name in ``names`` (a dotted field path) that ``path`` lies under, if any."""
    text = jax.tree_util.keystr(path)
    for name in names:
        prefix = "." + name
        if text == prefix or text.startswith((prefix + ".", prefix + "[")):
            return name
    return None


def per_chain_leaves(kernel: Any, per_chain: Sequence[str]) -> list[Any]:
    """The kernel's leaves under the named fields; ``ValueError`` for a name that has none."""
    selected, used = [], set()
    for path, leaf in _leaves_with_path(kernel):
        name = _is_under(path, per_chain)
        if name is not None:
            used.add(name)
            selected.append(leaf)
    missing = [name for name in per_chain if name not in used]
    if missing:
        fields = sorted(jax.tree_util.keystr(p)[1:] for p, _ in _leaves_with_path(kernel))
        raise ValueError(
            f"per_chain names {missing}, which are not array fields of the kernel; "
            f"its array leaves are {fields}."
        )
    return selected


def kernel_axes(kernel: Any, per_chain: Sequence[str] = ()) -> Any:
    """``vmap`` axes for ``kernel``: 0 on the leaves under the named fields, ``None`` elsewhere.

    A name is a dotted path of attributes from the kernel (``"step_size"``,
    ``"energy_fn.tilt"``); it selects every leaf below it.
    """
    if not per_chain:
        return None
    per_chain_leaves(kernel, per_chain)  # refuses unknown names
    return jax.tree_util.tree_map_with_path(
        lambda path, _: 0 if _is_under(path, per_chain) is not None else None, kernel
    )


def _leaves_with_path(tree):
    return jax.tree_util.tree_flatten_with_path(tree)[0]


def init_chains(kernel: Any, positions: ArrayTree, per_chain: Sequence[str] = ()) -> Any:
    """``kernel.init`` vmapped over the leading chain axis of ``positions``."""
    return jax.vmap(lambda k, x: k.init(x), in_axes=(kernel_axes(kernel, per_chain), 0))(
        kernel, positions
    )


def step_chains(
    kernel: Any,
    keys: PRNGKey,
    states: Any,
    betas: jax.Array,
    per_chain: Sequence[str] = (),
) -> tuple[Any, Any]:
    """One step of every chain: ``kernel.step`` vmapped over keys, states and betas."""
    return jax.vmap(
        lambda k, key, state, beta: k.step(key, state, beta),
        in_axes=(kernel_axes(kernel, per_chain), 0, 0, 0),
    )(kernel, keys, states, betas)


def _num_chains(states) -> int:
    return jax.tree_util.tree_leaves(states)[0].shape[0]


def _energy_dtype(states):
    energy = getattr(states, "energy", None)
    return None if energy is None else jnp.result_type(energy)


def sample_chains(
    kernel: Any,
    key: PRNGKey,
    states: Any,
    num_steps: int,
    *,
    beta: Any = 1.0,
    start_step: jax.typing.ArrayLike = 0,
    thin: int = 1,
    observe: Observe | None = None,
    reducer: Reducer | None = None,
    carry: Any = None,
    per_chain: Sequence[str] = (),
) -> tuple[Any, Any]:
    """Advance ``states`` (leading chain axis) by ``num_steps`` steps of ``kernel``, in-graph.

    Pure and traceable: call it inside ``jit`` (``num_steps``, ``thin``,
    ``observe``, ``reducer`` and ``per_chain`` are static there), inside ``vmap``
    or inside another scan. The chains are ``vmap``-ped; the steps are a
    ``lax.scan``; every ``thin``-th state is observed.

    Args:
        kernel: a kernel (``init``/``step``, see :mod:`statjax.samplers.base`).
        key: a typed PRNG key (see :func:`statjax.checks.as_key`).
        states: kernel states with a leading chain axis.
        num_steps: steps to take, a multiple of ``thin``.
        beta: a float, a ``(num_chains,)`` array, or a schedule ``step -> beta``
            evaluated at the global step.
        start_step: global index of the first step (keys and schedules).
        thin: observe every ``thin``-th step.
        observe: ``observe(state, info)`` for one chain; ``None`` records nothing.
        reducer: reduce the records as they come instead of stacking them.
        carry: the reducer's carry from an earlier call; ``None`` starts it.
        per_chain: kernel fields whose leaves carry a leading chain axis.

    Returns:
        ``(states, output)``: ``output`` is ``None`` without ``observe``, the
        reducer's carry with a ``reducer``, else the records stacked
        ``(num_steps // thin, num_chains, ...)``.
    """
    if num_steps % thin:
        raise ValueError(f"num_steps ({num_steps}) must be a multiple of thin ({thin}).")
    if reducer is not None and observe is None:
        raise ValueError("a reducer reduces what `observe` records: pass an `observe` function.")
    num_chains = _num_chains(states)
    dtype = _energy_dtype(states)
    steps = jnp.asarray(start_step) + jnp.arange(num_steps)
    # Folding all of the steps in at once, outside the scan, leaves one generator
    # call (the split over chains) per step inside it.
    step_keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, steps)
    # A schedule of one beta for all chains is evaluated for every step at once, out
    # of the loop, like the keys: evaluated inside it from a traced first step it
    # made a sweep of simulated annealing 1.4x slower on the CPU (measured).
    scalar_schedule = callable(beta) and jax.eval_shape(beta, steps[0]).shape == ()
    step_betas = jax.vmap(beta)(steps) if scalar_schedule else steps

    def one_step(states, step_key_and_beta):
        step, step_key, step_beta = step_key_and_beta
        keys = jax.random.split(step_key, num_chains)
        value = step_beta if scalar_schedule else beta
        return step_chains(kernel, keys, states, beta_at(value, step, num_chains, dtype), per_chain)

    def observe_all(states, info):
        return jax.vmap(observe)(states, info)

    if reducer is not None and observe is not None and carry is None:
        example = jax.eval_shape(
            lambda s: observe_all(*one_step(s, (steps[0], step_keys[0], step_betas[0]))), states
        )
        carry = reducer.init(jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), example))

    def block(loop_carry, block_steps):
        states, carry = loop_carry
        if thin > 1:
            states, _ = jax.lax.scan(
                lambda s, x: (one_step(s, x)[0], None),
                states,
                jax.tree_util.tree_map(lambda x: x[:-1], block_steps),
            )
        last_step = jax.tree_util.tree_map(lambda x: x[-1], block_steps)
        states, info = one_step(states, last_step)
        if observe is None:
            return (states, carry), None
        record = observe_all(states, info)
        if reducer is not None:
            return (states, reducer.update(carry, record, last_step[0])), None
        return (states, carry), record

    blocks = jax.tree_util.tree_map(
        lambda x: x.reshape(num_steps // thin, thin, *x.shape[1:]), (steps, step_keys, step_betas)
    )
    (states, carry), records = jax.lax.scan(block, (states, carry), blocks)
    if observe is None:
        return states, None
    return states, carry if reducer is not None else records


__all__ = [
    "Observe",
    "Reducer",
    "beta_at",
    "chain_keys",
    "init_chains",
    "kernel_axes",
    "per_chain_leaves",
    "sample_chains",
    "step_chains",
]
