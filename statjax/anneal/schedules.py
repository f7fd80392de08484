"""Temperature schedules: ``step -> temperature``, each an ``optax.Schedule``.

A schedule is a pure function of the (possibly traced) step count, so it runs
under ``jit``, inside ``lax.scan`` and as the ``learning_rate`` or
``temperature`` of an optax transform. Temperature and learning-rate schedules
are the same kind of object: they compose with :func:`optax.join_schedules`
(re-exported here as :func:`join_schedules`).

The classic cooling laws (Kirkpatrick, Gelatt & Vecchi 1983; Geman & Geman
1984) and the periodic re-heating of warm restarts (Loshchilov & Hutter 2017)
are provided; :func:`temperature_to_beta` and :func:`beta_to_temperature`
convert values and schedules alike.
"""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

Schedule = optax.Schedule

join_schedules = optax.join_schedules
"""``optax.join_schedules(schedules, boundaries)``: schedule ``i`` runs from boundary
``i - 1`` on, with its step counted from that boundary."""


def _check_temperature(name: str, value) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless it is finite and > 0."""
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite temperature > 0, got {value}.")
    return value


def _check_num_steps(name: str, value) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer number of steps, got {value}.")
    return int(value)


def constant_temperature(temperature: float) -> Schedule:
    """``T_k = T``.

    Example:
        >>> float(constant_temperature(2.0)(10))
        2.0
    """
    temperature = _check_temperature("temperature", temperature)
    return lambda step: jnp.full(jnp.shape(step), temperature, dtype=jnp.float32)


def linear_temperature(
    initial_temperature: float, final_temperature: float, num_steps: int
) -> Schedule:
    """Linear cooling ``T_k = T_0 + (T_1 - T_0) min(k, K) / K``, flat after ``K`` steps.

    Example:
        >>> float(linear_temperature(1.0, 0.5, 10)(5))
        0.75
    """
    t0 = _check_temperature("initial_temperature", initial_temperature)
    t1 = _check_temperature("final_temperature", final_temperature)
    num_steps = _check_num_steps("num_steps", num_steps)

    def schedule(step):
        fraction = jnp.clip(jnp.asarray(step, jnp.float32) / num_steps, 0.0, 1.0)
        return t0 + (t1 - t0) * fraction

    return schedule


def geometric_temperature(
    initial_temperature: float, alpha: float, min_temperature: float | None = None
) -> Schedule:
    """Geometric cooling ``T_k = T_0 alpha^k``, ``0 < alpha <= 1`` (Kirkpatrick et al. 1983).

    Args:
        initial_temperature: ``T_0 > 0``.
        alpha: the cooling factor per step, in ``(0, 1]``.
        min_temperature: optional floor ``T_min > 0``: ``T_k = max(T_0 alpha^k, T_min)``.

    Example:
        >>> round(float(geometric_temperature(1.0, 0.98)(2)), 4)
        0.9604
    """
    t0 = _check_temperature("initial_temperature", initial_temperature)
    alpha = float(alpha)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1] (a cooling factor per step), got {alpha}.")
    floor = (
        0.0 if min_temperature is None else _check_temperature("min_temperature", min_temperature)
    )

    def schedule(step):
        # exp(k log alpha) rather than alpha**k: exact at k = 0 and smooth in k.
        value = t0 * jnp.exp(jnp.asarray(step, jnp.float32) * math.log(alpha))
        return jnp.maximum(value, floor)

    return schedule


def logarithmic_temperature(initial_temperature: float) -> Schedule:
    """Logarithmic cooling ``T_k = T_0 / log(2 + k)`` (Geman & Geman 1984; Hajek 1988).

    Slow enough, for ``T_0`` above the depth of the deepest non-global well,
    for simulated annealing to converge to the global minima in probability.
    Note ``T_0`` is reached only in the limit ``log 2``: ``T_0 = T_0 / log 2`` at step 0.

    Example:
        >>> round(float(logarithmic_temperature(1.0)(0)), 4)
        1.4427
    """
    t0 = _check_temperature("initial_temperature", initial_temperature)
    return lambda step: t0 / jnp.log(2.0 + jnp.asarray(step, jnp.float32))


def cosine_temperature(
    initial_temperature: float, final_temperature: float, num_steps: int
) -> Schedule:
    """Cosine cooling ``T_k = T_1 + (T_0 - T_1) (1 + cos(pi min(k, K) / K)) / 2``.

    Example:
        >>> float(cosine_temperature(2.0, 1.0, 10)(5))
        1.5
    """
    t0 = _check_temperature("initial_temperature", initial_temperature)
    t1 = _check_temperature("final_temperature", final_temperature)
    num_steps = _check_num_steps("num_steps", num_steps)

    def schedule(step):
        fraction = jnp.clip(jnp.asarray(step, jnp.float32) / num_steps, 0.0, 1.0)
        return t1 + (t0 - t1) * 0.5 * (1.0 + jnp.cos(jnp.pi * fraction))

    return schedule


def cyclical_temperature(
    max_temperature: float, min_temperature: float, cycle_length: int
) -> Schedule:
    """Cosine cooling with warm restarts (periodic re-heating; Loshchilov & Hutter 2017).

    ``T_k = T_min + (T_max - T_min) (1 + cos(pi r_k)) / 2`` with
    ``r_k = (k mod L) / L``: each cycle of ``L`` steps cools from ``T_max``
    towards ``T_min``, then the temperature jumps back to ``T_max``.

    Example:
        >>> s = cyclical_temperature(2.0, 1.0, 4)
        >>> [float(s(k)) for k in (0, 2, 4)]
        [2.0, 1.5, 2.0]
    """
    t_max = _check_temperature("max_temperature", max_temperature)
    t_min = _check_temperature("min_temperature", min_temperature)
    cycle_length = _check_num_steps("cycle_length", cycle_length)

    def schedule(step):
        fraction = jnp.mod(jnp.asarray(step, jnp.float32), cycle_length) / cycle_length
        return t_min + (t_max - t_min) * 0.5 * (1.0 + jnp.cos(jnp.pi * fraction))

    return schedule


def temperature_to_beta(temperature):
    """``beta = 1 / T`` for a float, an array, or a schedule (which gives a beta schedule).

    Example:
        >>> float(temperature_to_beta(4.0))
        0.25
        >>> float(temperature_to_beta(constant_temperature(2.0))(0))
        0.5
    """
    return _reciprocal(temperature, "temperature")


def beta_to_temperature(beta):
    """``T = 1 / beta`` for a float, an array, or a schedule (which gives a temperature schedule).

    Example:
        >>> float(beta_to_temperature(0.5))
        2.0
    """
    return _reciprocal(beta, "beta")


def _reciprocal(value, name: str):
    if callable(value):
        schedule: Callable = value
        return lambda step: 1.0 / schedule(step)
    if not isinstance(value, jax.core.Tracer):
        array = np.asarray(value)  # NumPy: a check that also works while tracing
        if not bool(np.all(np.isfinite(array) & (array > 0))):
            raise ValueError(f"{name} must be finite and > 0 everywhere, got {value}.")
    return 1.0 / jnp.asarray(value)
