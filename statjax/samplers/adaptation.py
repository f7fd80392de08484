"""Step-size adaptation by dual averaging, shared across vmapped chains."""

from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from statjax.checks import (
    as_key,
    check_count,
    check_initial_energy,
    check_positive,
    check_unit_interval,
)
from statjax.checks import num_chains as count_chains
from statjax.pytree import structure_key
from statjax.samplers.loop import sample_chains
from statjax.samplers.run import initial_states, is_state, prepare_beta
from statjax.types import ArrayTree, BetaLike, PRNGKey


class DualAveragingState(NamedTuple):
    """State of Nesterov's dual averaging on ``log step_size``.

    Attributes:
        log_step_size: the iterate ``x_t`` (the step size used next).
        log_step_size_avg: the averaged iterate ``x_bar_t`` (the final answer).
        step: iteration count ``t``.
        average_error: ``H_bar_t``, running mean of ``target - acceptance``.
        mu: shrinkage point, ``log(10 * initial_step_size)``.
    """

    log_step_size: jax.Array
    log_step_size_avg: jax.Array
    step: jax.Array
    average_error: jax.Array
    mu: jax.Array


def dual_averaging_init(initial_step_size: jax.typing.ArrayLike) -> DualAveragingState:
    """Start dual averaging at ``initial_step_size`` (Hoffman & Gelman 2014, Alg. 5)."""
    log_step = jnp.log(jnp.asarray(initial_step_size, dtype=float))
    zero = jnp.zeros_like(log_step)
    return DualAveragingState(log_step, zero, zero, zero, jnp.log(10.0) + log_step)


def dual_averaging_update(
    state: DualAveragingState,
    acceptance_rate: jax.typing.ArrayLike,
    target_acceptance: float = 0.8,
    gamma: float = 0.05,
    t0: float = 10.0,
    kappa: float = 0.75,
) -> DualAveragingState:
    """One dual-averaging update of ``log step_size`` toward ``target_acceptance``.

    Hoffman & Gelman (2014), "The No-U-Turn Sampler", eqs. (5)-(6):

        H_bar_t = (1 - 1/(t + t0)) H_bar_{t-1} + (target - a_t) / (t + t0)
        x_t     = mu - sqrt(t) / gamma * H_bar_t
        x_bar_t = t^-kappa x_t + (1 - t^-kappa) x_bar_{t-1}

    Pass the acceptance rate averaged over chains to adapt one step size for all
    of them (the vmapped case), or a per-chain array for per-chain step sizes.
    """
    step = state.step + 1
    weight = 1.0 / (step + t0)
    average_error = (1 - weight) * state.average_error + weight * (
        target_acceptance - acceptance_rate
    )
    log_step_size = state.mu - jnp.sqrt(step) / gamma * average_error
    decay = step ** (-kappa)
    log_step_size_avg = decay * log_step_size + (1 - decay) * state.log_step_size_avg
    return DualAveragingState(log_step_size, log_step_size_avg, step, average_error, state.mu)


def adapt_step_size(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    *,
    beta: BetaLike = 1.0,
    target_acceptance: float = 0.8,
    per_chain: bool | Sequence[str] = False,
) -> tuple[Any, Any]:
    """Tune ``kernel.step_size`` so that the chains accept ``target_acceptance`` on average.

    Runs ``num_steps`` warm-up steps of all chains in one jitted scan, each step
    through the one driver (:func:`statjax.samplers.loop.sample_chains`, so the
    keys follow the :func:`statjax.run_chains` rule). After each step the
    acceptance rate drives :func:`dual_averaging_update`: averaged over chains,
    one step size serves every chain (and, with the temperature-scaled kernels
    of statjax, every temperature); with ``per_chain=True`` every chain adapts
    its own step size (a ladder of rungs, tilted ensembles). Returns the kernel
    with the averaged step size ``exp(x_bar)`` and the chains' states at the end
    of warm-up, ready for :func:`statjax.run_chains` (pass the same ``per_chain``
    there).

    Args:
        kernel: a kernel with a scalar ``step_size`` field (MALA, ULA, HMC, ...).
        key: PRNG key (typed or legacy).
        initial: positions ``(num_chains, ...)`` or kernel states.
        num_steps: warm-up steps.
        beta: as in :func:`statjax.run_chains`.
        target_acceptance: the acceptance rate to reach, in (0, 1); 0.574 is
            optimal for MALA in high dimension, 0.65 to 0.8 for HMC.
        per_chain: kernel fields whose leaves carry a leading chain axis, as in
            :func:`statjax.run_chains`; if it names ``"step_size"`` (or is
            ``True``, short for ``("step_size",)``) every chain adapts its own
            step size, returned as a ``(num_chains,)`` leaf.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.mala(lambda x: 0.5 * jnp.sum(x**2), 1.0)
        >>> kernel, states = statjax.samplers.adapt_step_size(
        ...     kernel, jax.random.key(0), jnp.zeros((16, 2)), 200)
    """
    check_unit_interval("target_acceptance", target_acceptance)
    num_steps = check_count("num_steps", num_steps)
    check_positive("kernel.step_size", kernel.step_size)
    key = as_key(key)
    fields = ("step_size",) if per_chain is True else tuple(per_chain or ())
    num_chains = count_chains(initial.position if is_state(initial) else initial)
    if "step_size" in fields:
        kernel = kernel.replace(
            step_size=jnp.broadcast_to(jnp.asarray(kernel.step_size), (num_chains,))
        )
    states = initial_states(kernel, initial, fields)
    check_initial_energy(states.energy)
    beta = prepare_beta(beta, num_chains, 0, num_steps)
    averaging = dual_averaging_init(kernel.step_size)
    states, averaging = _adapt(
        kernel,
        key,
        states,
        beta,
        averaging,
        jnp.asarray(target_acceptance),
        num_steps=num_steps,
        per_chain=fields,
        structure=structure_key((kernel, beta)),
    )
    return kernel.replace(step_size=jnp.exp(averaging.log_step_size_avg)), states


def _acceptance_rate(state, info):
    del state
    return info.acceptance_rate


@partial(jax.jit, static_argnames=("num_steps", "per_chain", "structure"))
def _adapt(
    kernel, key, states, beta, averaging, target_acceptance, *, num_steps, per_chain, structure
):
    del structure  # a cache key only (see statjax.pytree.structure_key)

    def one_step(carry, step):
        states, averaging = carry
        tuned = kernel.replace(step_size=jnp.exp(averaging.log_step_size))
        states, acceptance = sample_chains(
            tuned,
            key,
            states,
            1,
            beta=beta,
            start_step=step,
            observe=_acceptance_rate,
            per_chain=per_chain,
        )
        rate = acceptance[0] if "step_size" in per_chain else jnp.mean(acceptance)
        averaging = dual_averaging_update(averaging, rate, target_acceptance)
        return (states, averaging), None

    (states, averaging), _ = jax.lax.scan(one_step, (states, averaging), jnp.arange(num_steps))
    return states, averaging
