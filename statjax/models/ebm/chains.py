"""Short-run chains of any statjax kernel on an energy network, through the one driver."""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from statjax.checks import as_key, check_beta_values, check_count
from statjax.samplers.loop import Reducer, init_chains, sample_chains
from statjax.types import ArrayTree, EnergyFn, PRNGKey

Sampler = Callable[[EnergyFn], Any]
"""``sampler(energy_fn) -> kernel``: builds a statjax kernel on a one-argument energy.

Pass a pytree (``jax.tree_util.Partial(statjax.mala, step_size=0.01)``) so that its
numbers stay traced; a plain function or lambda works too, as a static callable.
"""


def _acceptance(state: Any, info: Any) -> jax.Array:
    del state
    return info.acceptance_rate


# The acceptance rate summed over steps (each step's mean over chains), without a trace.
_ACCEPTANCE_SUM = Reducer(
    init=lambda record: jnp.zeros((), jnp.promote_types(record.dtype, jnp.float32)),
    update=lambda total, record, step: total + jnp.mean(record.astype(total.dtype)),
)


def short_run_chains(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: jax.typing.ArrayLike,
    *,
    beta: Any = 1.0,
    per_chain: Sequence[str] = (),
) -> tuple[Any, jax.Array]:
    """Run ``num_steps`` steps of a statjax kernel on every chain; return the final states.

    The in-graph counterpart of :func:`statjax.run_chains` for use inside a jitted
    training step: no trace, no chunks, and ``num_steps`` may be traced. The steps
    go through :func:`statjax.samplers.loop.sample_chains`, the one driver, so step
    ``t`` of chain ``c`` draws from ``split(fold_in(key, t), num_chains)[c]``: a
    concrete ``num_steps`` is one scan; a traced one is a ``fori_loop`` of
    one-step driver calls at ``start_step = t``, which draws the same numbers.

    Args:
        kernel: any statjax kernel (``init``/``step``).
        key: PRNG key (typed or legacy ``uint32[2]``).
        initial: starting positions, leading axis = chains, ``(num_chains, ...)``.
        num_steps: number of kernel steps (may be traced; 0 returns the start).
        beta: inverse temperature: a scalar, ``(num_chains,)``, or a schedule of the step.
        per_chain: kernel fields whose leaves carry a leading chain axis
            (see :func:`statjax.samplers.loop.kernel_axes`).

    Returns:
        ``(states, acceptance_rate)``: the final states (``.position``, ``.energy``)
        with a leading chain axis, and the acceptance rate averaged over chains and
        steps (``nan`` if ``num_steps`` is 0).

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.mala(lambda x: 0.5 * jnp.sum(x**2), 0.1)
        >>> states, rate = short_run_chains(kernel, jax.random.key(0), jnp.zeros((4, 2)), 10)
        >>> states.position.shape
        (4, 2)
    """
    key = as_key(key)
    per_chain = tuple(per_chain)
    if not callable(beta) and not isinstance(beta, jax.core.Tracer):
        check_beta_values(np.asarray(beta, dtype=float))
    states = init_chains(kernel, initial, per_chain)
    total = jnp.zeros((), jnp.promote_types(jnp.result_type(states.energy), jnp.float32))
    settings = dict(beta=beta, observe=_acceptance, reducer=_ACCEPTANCE_SUM, per_chain=per_chain)
    if not isinstance(num_steps, jax.core.Tracer):
        num_steps = check_count("num_steps", num_steps, minimum=0)
        if num_steps == 0:
            return states, jnp.full((), jnp.nan, total.dtype)
        states, total = sample_chains(kernel, key, states, num_steps, carry=total, **settings)
        return states, total / num_steps

    def one_step(step, carry):
        states, total = carry
        return sample_chains(kernel, key, states, 1, start_step=step, carry=total, **settings)

    states, total = jax.lax.fori_loop(0, num_steps, one_step, (states, total))
    return states, total / num_steps


__all__ = ["Sampler", "short_run_chains"]
