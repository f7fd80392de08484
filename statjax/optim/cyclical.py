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
"""

import math

import jax
import jax.numpy as jnp
import optax

from statjax.optim._common import check_scalar, check_unit_interval
from statjax.optim.sgld import sgld
from statjax.types import PRNGKey


def _cycle_length(num_steps: int, num_cycles: int) -> int:
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps}.")
    if int(num_cycles) != num_cycles or not 1 <= num_cycles <= num_steps:
        raise ValueError(f"num_cycles must be an integer in [1, num_steps], got {num_cycles}.")
    return math.ceil(num_steps / num_cycles)


def cycle_fraction(step: jax.typing.ArrayLike, num_steps: int, num_cycles: int) -> jax.Array:
    """``r = mod(step, L) / L``, ``L = ceil(K/M)``: how far ``step`` is into its cycle."""
    cycle_length = _cycle_length(num_steps, num_cycles)
    return jnp.mod(jnp.asarray(step, jnp.float32), cycle_length) / cycle_length


def cyclical_step_size(init_step_size: float, num_steps: int, num_cycles: int) -> optax.Schedule:
    """Zhang et al. (2020), eq. (1): cosine from ``alpha_0`` towards 0 in each of ``M`` cycles.

    Example:
        >>> schedule = cyclical_step_size(0.1, num_steps=100, num_cycles=5)
        >>> [round(float(schedule(k)), 4) for k in (0, 10, 20)]
        [0.1, 0.05, 0.1]
    """
    check_scalar("init_step_size", init_step_size)
    _cycle_length(num_steps, num_cycles)

    def schedule(step):
        fraction = cycle_fraction(step, num_steps, num_cycles)
        return 0.5 * init_step_size * (jnp.cos(jnp.pi * fraction) + 1.0)

    return schedule


def is_sampling_phase(
    step: jax.typing.ArrayLike, num_steps: int, num_cycles: int, exploration_fraction: float
) -> jax.Array:
    """``r(step) >= beta``: whether ``step`` is in its cycle's sampling (not exploration) stage.

    Example:
        >>> [bool(is_sampling_phase(k, 100, 4, 0.8)) for k in (19, 20, 24, 25)]
        [False, True, True, False]
    """
    check_unit_interval("exploration_fraction", exploration_fraction)
    cycle_length = _cycle_length(num_steps, num_cycles)
    # r >= beta compared in integers: mod(step, L) >= ceil(beta L). A float32
    # r = 20 / 25 can round below 0.8 and move a step into the wrong stage.
    threshold = math.ceil(round(exploration_fraction * cycle_length, 9))
    return jnp.mod(jnp.asarray(step), cycle_length) >= threshold


def cyclical_temperature(
    temperature: float, num_steps: int, num_cycles: int, exploration_fraction: float
) -> optax.Schedule:
    """``0`` in each cycle's exploration stage, ``T`` in its sampling stage (Zhang et al. 2020).

    Example:
        >>> schedule = cyclical_temperature(1.0, 100, 4, exploration_fraction=0.8)
        >>> [float(schedule(k)) for k in (0, 19, 20, 24, 25)]
        [0.0, 0.0, 1.0, 1.0, 0.0]
    """
    check_scalar("temperature", temperature)
    check_unit_interval("exploration_fraction", exploration_fraction)
    _cycle_length(num_steps, num_cycles)

    def schedule(step):
        sampling = is_sampling_phase(step, num_steps, num_cycles, exploration_fraction)
        return jnp.where(sampling, temperature, 0.0)

    return schedule


def cyclical_sgld(
    init_step_size: float,
    num_steps: int,
    num_cycles: int,
    exploration_fraction: float = 0.8,
    temperature: float = 1.0,
    seed: int | PRNGKey = 0,
) -> optax.GradientTransformation:
    """cSGLD: :func:`statjax.optim.sgld` with the cyclical step size and the two-stage temperature.

    Collect posterior samples only where :func:`is_sampling_phase` holds.

    Example:
        >>> import jax.numpy as jnp
        >>> opt = cyclical_sgld(0.1, num_steps=1000, num_cycles=4, seed=0)
        >>> updates, state = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
    """
    return sgld(
        learning_rate=cyclical_step_size(init_step_size, num_steps, num_cycles),
        temperature=cyclical_temperature(temperature, num_steps, num_cycles, exploration_fraction),
        seed=seed,
    )
