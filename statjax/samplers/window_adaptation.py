"""Stan's windowed adaptation of the step size and the mass matrix, for many chains at once.

The warm-up of ``N`` steps is cut into windows (Stan reference manual,
"Automatic parameter tuning"; Hoffman & Gelman 2014 for the step size):

1. an initial fast window (``init_buffer = 75`` steps) where only the step size
   adapts;
2. slow windows of ``25, 50, 100, ...`` steps (the last one stretched to end
   where the final window begins) in which the chains' positions feed a
   Welford estimate of their variance (diagonal) or covariance (dense). At the
   end of each slow window the inverse mass matrix becomes the regularised
   estimate ``(n / (n + 5)) S + 1e-3 (5 / (n + 5)) I`` (``n`` samples), the
   estimate restarts and so does dual averaging, from the current step size;
3. a final fast window (``term_buffer = 50`` steps) for the step size alone.

Runs shorter than 150 steps use Stan's 15 % / 75 % / 10 % split. The step size
follows dual averaging toward ``target_acceptance`` (:func:`dual_averaging_update`
on :class:`~statjax.samplers.nuts.NUTSInfo`'s or
:class:`~statjax.samplers.hmc.HMCInfo`'s ``acceptance_rate``); the returned
step size is the averaged iterate ``exp(x_bar)``.

**Many chains.** With ``per_chain=False`` one step size and one mass matrix
serve every chain: the acceptance rate is averaged over chains, and the
Welford estimate pools every chain's positions (``C`` samples per step). With
``per_chain=True`` every chain adapts its own step size and mass matrix, and
the tuned kernel carries them as leaves with a chain axis (run it with
``per_chain=("step_size", "inverse_mass_matrix")``).

**Temperature.** The kernels take ``M^-1`` as the target's covariance at
``beta = 1`` (:mod:`statjax.samplers.hmc`), so a chain at ``beta`` contributes
``sqrt(beta) x`` to the estimate.

**Resumable.** The adaptation's whole state is the pytree
:class:`WindowAdaptationState`, and the schedule is a function of the global
step: ``window_adaptation(..., stop_step=m)`` then
``window_adaptation(..., start_step=m, adaptation=state)`` (same ``num_steps``,
same key) gives what one call gives. Chains advance only through the driver
(:func:`statjax.samplers.loop.sample_chains`), one step at a time with the
run's key rule.
"""

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from statjax.checks import as_key, check_count, check_initial_energy, check_unit_interval
from statjax.checks import num_chains as count_chains
from statjax.pytree import structure_key
from statjax.samplers.adaptation import (
    DualAveragingState,
    dual_averaging_init,
    dual_averaging_update,
)
from statjax.samplers.loop import sample_chains
from statjax.samplers.run import initial_states, is_state, prepare_beta
from statjax.types import ArrayTree, BetaLike, PRNGKey

INIT_BUFFER, TERM_BUFFER, BASE_WINDOW = 75, 50, 25
"""Stan's default window sizes."""


class WelfordState(NamedTuple):
    """Running mean and sum of squared deviations (Welford 1962; Chan et al. 1979 for batches).

    Attributes:
        num_samples: samples so far.
        mean: ``(D,)`` (or ``(C, D)`` per chain).
        m2: ``(D,)`` diagonal or ``(D, D)`` dense sums of squared deviations
            (with a leading chain axis per chain).
    """

    num_samples: jax.Array
    mean: jax.Array
    m2: jax.Array


class WindowAdaptationState(NamedTuple):
    """Everything the windowed adaptation carries from one step to the next (a pytree).

    Attributes:
        step_size: the step size the next step uses, ``()`` or ``(C,)``.
        inverse_mass_matrix: flat ``M^-1``: ``(D,)``/``(D, D)``, or per chain
            ``(C, D)``/``(C, D, D)``.
        averaging: dual averaging's state.
        welford: the running estimate of the current slow window.
        step: the global step the next call starts at.
    """

    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    averaging: DualAveragingState
    welford: WelfordState
    step: jax.Array


def window_schedule(num_steps: int) -> np.ndarray:
    """Stan's schedule as ``(num_steps, 2)`` booleans: (in a slow window, ends a slow window).

    Row ``t`` describes global step ``t`` (0-based). Example: for 1000 steps the
    slow windows are steps 75-99, 100-149, 150-249, 250-449, 450-949.
    """
    num_steps = check_count("num_steps", num_steps)
    init_buffer, term_buffer, base_window = INIT_BUFFER, TERM_BUFFER, BASE_WINDOW
    if init_buffer + term_buffer + base_window > num_steps:
        init_buffer = int(0.15 * num_steps)
        term_buffer = int(0.1 * num_steps)
        base_window = num_steps - init_buffer - term_buffer
    schedule = np.zeros((num_steps, 2), bool)
    end_of_slow = num_steps - term_buffer
    start, size = init_buffer, base_window
    while start < end_of_slow and size > 0:
        end = start + size
        # A window that would leave less than twice its successor's size is stretched.
        if end + 2 * size > end_of_slow:
            end = end_of_slow
        schedule[start:end, 0] = True
        schedule[end - 1, 1] = True
        start, size = end, 2 * size
    return schedule


def _welford_init(num_chains: int, num_dims: int, dense: bool, per_chain: bool, dtype):
    lead = (num_chains,) if per_chain else ()
    shape = (num_dims, num_dims) if dense else (num_dims,)
    return WelfordState(
        jnp.zeros((), dtype),
        jnp.zeros((*lead, num_dims), dtype),
        jnp.zeros((*lead, *shape), dtype),
    )


def _welford_update(welford: WelfordState, samples: jax.Array, dense: bool, per_chain: bool):
    """Add ``samples`` ``(C, D)``: one sample per chain (per chain) or a batch of ``C`` (pooled)."""
    if per_chain:
        count = welford.num_samples + 1
        delta = samples - welford.mean
        mean = welford.mean + delta / count
        after = samples - mean
        update = delta[:, :, None] * after[:, None, :] if dense else delta * after
        return WelfordState(count, mean, welford.m2 + update)
    batch = samples.shape[0]
    batch_mean = jnp.mean(samples, axis=0)
    centred = samples - batch_mean
    batch_m2 = centred.T @ centred if dense else jnp.sum(centred**2, axis=0)
    count = welford.num_samples + batch
    delta = batch_mean - welford.mean
    mean = welford.mean + delta * batch / count
    correction = welford.num_samples * batch / count
    cross = jnp.outer(delta, delta) if dense else delta**2
    return WelfordState(count, mean, welford.m2 + batch_m2 + cross * correction)


def regularised_covariance(welford: WelfordState, dense: bool) -> jax.Array:
    """Stan's ``(n / (n + 5)) S + 1e-3 (5 / (n + 5)) I`` from a Welford state (``S``: unbiased)."""
    count = welford.num_samples
    sample = welford.m2 / jnp.maximum(count - 1, 1)
    shrink = 1e-3 * 5.0 / (count + 5.0)
    if dense:
        eye = jnp.eye(sample.shape[-1], dtype=sample.dtype)
        return (count / (count + 5.0)) * sample + shrink * eye
    return (count / (count + 5.0)) * sample + shrink


def _flat_positions(states) -> jax.Array:
    return jax.vmap(lambda x: ravel_pytree(x)[0])(states.position)


def _as_leaf(flat_matrix, example_position, dense: bool, per_chain: bool):
    """The kernel's ``inverse_mass_matrix`` leaf from the flat one (diagonal: position-shaped)."""
    if dense:
        return flat_matrix
    _, unravel = ravel_pytree(example_position)
    return jax.vmap(unravel)(flat_matrix) if per_chain else unravel(flat_matrix)


def window_adaptation(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    *,
    beta: BetaLike = 1.0,
    target_acceptance: float = 0.8,
    dense: bool = False,
    per_chain: bool = False,
    start_step: int = 0,
    stop_step: int | None = None,
    adaptation: WindowAdaptationState | None = None,
) -> tuple[Any, Any, WindowAdaptationState]:
    """Tune ``kernel``'s step size and inverse mass matrix by Stan's windowed adaptation.

    See the module docstring for the schedule and the estimates. The mass matrix
    starts at the identity and the step size at ``kernel.step_size``.

    Args:
        kernel: an HMC or NUTS kernel (fields ``step_size`` and
            ``inverse_mass_matrix``), e.g. :func:`statjax.samplers.nuts`.
        key: PRNG key (typed or legacy); the steps follow the driver's key rule
            with global steps ``start_step, ..., stop_step - 1``.
        initial: positions ``(num_chains, ...)`` or kernel states.
        num_steps: length of the whole warm-up (fixes the windows).
        beta: a float or a ``(num_chains,)`` array (a fixed temperature).
        target_acceptance: the mean acceptance statistic to reach, in (0, 1);
            Stan's default is 0.8.
        dense: estimate a dense ``(D, D)`` inverse mass matrix (else diagonal).
        per_chain: one step size and mass matrix per chain (else one shared,
            from the acceptance averaged over chains and the pooled positions).
        start_step: global step to start at (resume from ``adaptation``).
        stop_step: global step to stop before; ``None`` is ``num_steps``.
        adaptation: the state a previous call returned (needed when
            ``start_step > 0``).

    Returns:
        ``(kernel, states, adaptation)``: at the end of warm-up the kernel has
        the averaged step size and the last estimated mass matrix (per chain:
        leaves with a chain axis; run with
        ``per_chain=("step_size", "inverse_mass_matrix")``); before the end it
        has the current values. ``states`` are the chains' states and
        ``adaptation`` the state to resume from.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.samplers.nuts import nuts
        >>> from statjax.samplers.window_adaptation import window_adaptation
        >>> kernel = nuts(lambda x: 0.5 * jnp.sum((x / 3.0) ** 2), 1.0)
        >>> kernel, states, _ = window_adaptation(
        ...     kernel, jax.random.key(0), jnp.zeros((4, 2)), 200)
        >>> kernel.inverse_mass_matrix.shape
        (2,)
    """
    check_unit_interval("target_acceptance", target_acceptance)
    num_steps = check_count("num_steps", num_steps)
    start_step = check_count("start_step", start_step, minimum=0)
    stop_step = num_steps if stop_step is None else check_count("stop_step", stop_step)
    if not start_step < stop_step <= num_steps:
        raise ValueError(
            f"need 0 <= start_step < stop_step <= num_steps, got start_step={start_step}, "
            f"stop_step={stop_step}, num_steps={num_steps}."
        )
    if start_step > 0 and adaptation is None:
        raise ValueError("start_step > 0 resumes an adaptation: pass the `adaptation` state.")
    key = as_key(key)
    num_chains = count_chains(initial.position if is_state(initial) else initial)
    fields = ("step_size", "inverse_mass_matrix") if per_chain else ()
    example = jax.tree_util.tree_map(
        lambda x: x[0], initial.position if is_state(initial) else initial
    )
    flat_example = ravel_pytree(example)[0]
    num_dims, dtype = flat_example.size, jnp.promote_types(flat_example.dtype, jnp.float32)
    if adaptation is None:
        adaptation = _initial_adaptation(kernel, num_chains, num_dims, dense, per_chain, dtype)
    kernel = _tuned(kernel, adaptation, example, dense, per_chain)
    states = initial_states(kernel, initial, fields)
    check_initial_energy(states.energy)
    beta = prepare_beta(beta, num_chains, start_step, stop_step - start_step)
    if callable(beta):
        raise ValueError("window_adaptation runs at a fixed temperature: pass a float or array.")
    schedule = jnp.asarray(window_schedule(num_steps))
    states, adaptation = _adapt_windows(
        kernel,
        key,
        states,
        jnp.asarray(beta, dtype),
        adaptation,
        schedule,
        jnp.asarray(target_acceptance, dtype),
        jnp.asarray(start_step),
        num_run=stop_step - start_step,
        dense=dense,
        per_chain=per_chain,
        structure=structure_key(kernel),
    )
    tuned = _tuned(kernel, adaptation, example, dense, per_chain)
    if stop_step == num_steps:
        tuned = tuned.replace(step_size=jnp.exp(adaptation.averaging.log_step_size_avg))
    return tuned, states, adaptation


def _initial_adaptation(kernel, num_chains, num_dims, dense, per_chain, dtype):
    lead = (num_chains,) if per_chain else ()
    step_size = jnp.broadcast_to(jnp.asarray(kernel.step_size, dtype), lead)
    matrix = jnp.eye(num_dims, dtype=dtype) if dense else jnp.ones(num_dims, dtype)
    matrix = jnp.broadcast_to(matrix, (*lead, *matrix.shape))
    return WindowAdaptationState(
        step_size,
        matrix,
        dual_averaging_init(step_size),
        _welford_init(num_chains, num_dims, dense, per_chain, dtype),
        jnp.zeros((), jnp.int32),
    )


def _tuned(kernel, adaptation, example, dense, per_chain):
    return kernel.replace(
        step_size=adaptation.step_size,
        inverse_mass_matrix=_as_leaf(adaptation.inverse_mass_matrix, example, dense, per_chain),
    )


def _acceptance_and_position(state, info):
    return info.acceptance_rate, ravel_pytree(state.position)[0]


@partial(jax.jit, static_argnames=("num_run", "dense", "per_chain", "structure"))
def _adapt_windows(
    kernel,
    key,
    states,
    beta,
    adaptation,
    schedule,
    target_acceptance,
    start_step,
    *,
    num_run,
    dense,
    per_chain,
    structure,
):
    del structure  # a cache key only (see statjax.pytree.structure_key)
    example = jax.tree_util.tree_map(lambda x: x[0], states.position)
    fields = ("step_size", "inverse_mass_matrix") if per_chain else ()
    num_chains = beta.shape[0]
    sample_scale = jnp.sqrt(beta)[:, None]

    def one_step(carry, step):
        states, adaptation = carry
        tuned = _tuned(kernel, adaptation, example, dense, per_chain)
        states, (acceptance, positions) = sample_chains(
            tuned,
            key,
            states,
            1,
            beta=beta,
            start_step=step,
            observe=_acceptance_and_position,
            per_chain=fields,
        )
        acceptance = acceptance[0] if per_chain else jnp.mean(acceptance[0])
        averaging = dual_averaging_update(
            adaptation.averaging, acceptance.astype(beta.dtype), target_acceptance
        )
        in_slow, ends_window = schedule[step, 0], schedule[step, 1]
        samples = (positions[0] * sample_scale).astype(beta.dtype)
        welford = jax.tree_util.tree_map(
            lambda new, old: jnp.where(in_slow, new, old),
            _welford_update(adaptation.welford, samples, dense, per_chain),
            adaptation.welford,
        )
        step_size = jnp.exp(averaging.log_step_size)
        # The end of a slow window: a new mass matrix, a fresh estimate, dual averaging anew.
        matrix = jnp.where(
            ends_window, regularised_covariance(welford, dense), adaptation.inverse_mass_matrix
        )
        restarted_step_size = jnp.exp(averaging.log_step_size_avg)
        averaging = _where_tree(ends_window, dual_averaging_init(restarted_step_size), averaging)
        step_size = jnp.where(ends_window, restarted_step_size, step_size)
        welford = _where_tree(
            ends_window,
            _welford_init(num_chains, samples.shape[1], dense, per_chain, samples.dtype),
            welford,
        )
        adaptation = WindowAdaptationState(step_size, matrix, averaging, welford, step + 1)
        return (states, adaptation), None

    steps = start_step + jnp.arange(num_run)
    (states, adaptation), _ = jax.lax.scan(one_step, (states, adaptation), steps)
    return states, adaptation


def _where_tree(condition, x, y):
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(condition, a, b).astype(jnp.result_type(b)), x, y
    )


__all__ = [
    "WelfordState",
    "WindowAdaptationState",
    "regularised_covariance",
    "window_adaptation",
    "window_schedule",
]
