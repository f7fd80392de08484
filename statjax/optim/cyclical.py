"""Cyclical step sizes and temperatures for cyclical SG-MCMC (Zhang et al. 2020).

Zhang, Li, Zhang, Chen & Wilson (2020), eq. (1): with ``K`` steps in all and
``M`` cycles, the step size at (1-based) iteration ``k`` is

    alpha_k = alpha_0 / 2 [cos(pi mod(k - 1, ceil(K / M)) / ceil(K / M)) + 1].

Each cycle has an *exploration* stage, while the cycle fraction
``r(k) = mod(k - 1, ceil(K/M)) / ceil(K/M)`` is below ``beta`` (their
Algorithm 1: plain SGD, temperature 0, large steps that move between modes),
and a *sampling* stage for ``r(k) >= beta`` (SGLD at temperature ``T``, small
steps; the samples are collected there). In optax's 0-based step count
``k - 1 = step``.

The schedules are ``statjax.pytree.Pytree`` objects whose numbers (the step
size, the temperature, the cycle length and the first sampling step of a
cycle) are leaves, so a new schedule with new numbers reuses a compiled
program: ``tunable(sgld, learning_rate=cyclical_step_size(...),
temperature=cyclical_temperature(...))`` sweeps them without recompiling.
"""

import math

import jax
import jax.numpy as jnp
import optax

from statjax.checks import check_count
from statjax.optim._common import check_scalar, check_unit_interval
from statjax.optim.sgld import sgld
from statjax.pytree import Pytree
from statjax.types import PRNGKey


def _cycle_length(num_steps: int, num_cycles: int) -> int:
    num_steps = check_count("num_steps", num_steps)
    num_cycles = check_count("num_cycles", num_cycles)
    if num_cycles > num_steps:
        raise ValueError(f"num_cycles must be an integer in [1, num_steps], got {num_cycles}.")
    return math.ceil(num_steps / num_cycles)


def cycle_fraction(step: jax.typing.ArrayLike, num_steps: int, num_cycles: int) -> jax.Array:
    """``r = mod(step, L) / L``, ``L = ceil(K/M)``: how far ``step`` is into its cycle."""
    cycle_length = _cycle_length(num_steps, num_cycles)
    return jnp.mod(jnp.asarray(step, jnp.float32), cycle_length) / cycle_length


class CyclicalStepSize(Pytree):
    """``alpha_0 / 2 [cos(pi r) + 1]``, ``r = mod(step, L) / L`` (:func:`cyclical_step_size`)."""

    init_step_size: float
    cycle_length: int

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The step size at ``step``."""
        fraction = jnp.mod(jnp.asarray(step, jnp.float32), self.cycle_length) / self.cycle_length
        return 0.5 * self.init_step_size * (jnp.cos(jnp.pi * fraction) + 1.0)


def cyclical_step_size(init_step_size: float, num_steps: int, num_cycles: int) -> CyclicalStepSize:
    """Zhang et al. (2020), eq. (1): cosine from ``alpha_0`` towards 0 in each of ``M`` cycles.

    Examples:
        >>> schedule = cyclical_step_size(0.1, num_steps=100, num_cycles=5)
        >>> [round(float(schedule(k)), 4) for k in (0, 10, 20)]
        [0.1, 0.05, 0.1]
    """
    check_scalar("init_step_size", init_step_size)
    return CyclicalStepSize(init_step_size, _cycle_length(num_steps, num_cycles))


def is_sampling_phase(
    step: jax.typing.ArrayLike, num_steps: int, num_cycles: int, exploration_fraction: float
) -> jax.Array:
    """``r(step) >= beta``: whether ``step`` is in its cycle's sampling (not exploration) stage.

    Examples:
        >>> [bool(is_sampling_phase(k, 100, 4, 0.8)) for k in (19, 20, 24, 25)]
        [False, True, True, False]
    """
    cycle_length = _cycle_length(num_steps, num_cycles)
    threshold = _first_sampling_step(exploration_fraction, cycle_length)
    return jnp.mod(jnp.asarray(step), cycle_length) >= threshold


def _first_sampling_step(exploration_fraction: float, cycle_length: int) -> int:
    """``ceil(beta L)``: the first step of a cycle in its sampling stage, computed exactly.

    ``r >= beta`` compared in integers, ``mod(step, L) >= ceil(beta L)``: a float32
    ``r = 20 / 25`` can round below 0.8 and move a step into the wrong stage.
    """
    check_unit_interval("exploration_fraction", exploration_fraction, closed_left=True)
    return math.ceil(round(float(exploration_fraction) * cycle_length, 9))


class SamplingStageTemperature(Pytree):
    """``T`` from step ``first_sampling_step`` of each cycle on, 0 before it.

    See :func:`cyclical_temperature`; both integers are leaves, computed exactly
    on the host.
    """

    temperature: float
    cycle_length: int
    first_sampling_step: int

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The temperature at ``step``."""
        sampling = jnp.mod(jnp.asarray(step), self.cycle_length) >= self.first_sampling_step
        return jnp.where(sampling, self.temperature, 0.0)


def cyclical_temperature(
    temperature: float, num_steps: int, num_cycles: int, exploration_fraction: float
) -> SamplingStageTemperature:
    """``0`` in each cycle's exploration stage, ``T`` in its sampling stage (Zhang et al. 2020).

    Examples:
        >>> schedule = cyclical_temperature(1.0, 100, 4, exploration_fraction=0.8)
        >>> [float(schedule(k)) for k in (0, 19, 20, 24, 25)]
        [0.0, 0.0, 1.0, 1.0, 0.0]
    """
    check_scalar("temperature", temperature)
    cycle_length = _cycle_length(num_steps, num_cycles)
    first = _first_sampling_step(exploration_fraction, cycle_length)
    return SamplingStageTemperature(temperature, cycle_length, first)


def cyclical_sgld(
    init_step_size: float,
    num_steps: int,
    num_cycles: int,
    exploration_fraction: float = 0.8,
    temperature: float = 1.0,
    seed: int | PRNGKey = 0,
) -> optax.GradientTransformation:
    """cSGLD: :func:`statjax.optim.sgld` with the cyclical step size and the two-stage temperature.

    Collect posterior samples only where :func:`is_sampling_phase` holds. A
    non-finite gradient is refused as in :func:`statjax.optim.sgld`; the step
    count still advances, so the cycle stays in step with the training loop's.

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = cyclical_sgld(0.1, num_steps=1000, num_cycles=4, seed=0)
        >>> updates, state = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
    """
    return sgld(
        learning_rate=cyclical_step_size(init_step_size, num_steps, num_cycles),
        temperature=cyclical_temperature(temperature, num_steps, num_cycles, exploration_fraction),
        seed=seed,
    )
