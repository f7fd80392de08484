"""Temperature schedules: ``step -> temperature``, each an ``optax.Schedule`` and a pytree.

A schedule is a pure function of the (possibly traced) step count, so it runs
under ``jit``, inside ``lax.scan`` and as the ``learning_rate`` or
``temperature`` of an optax transform. Temperature and learning-rate schedules
are the same kind of object: they compose with :func:`join_schedules` (the rule
of :func:`optax.join_schedules`).

Every factory returns a small :class:`statjax.pytree.Pytree` with ``__call__``
whose numbers (temperatures, cooling factor, lengths) are *leaves*, as in
Equinox: passed to a jitted function (``run_chains``'s ``beta``, the
annealers' ``temperature``), a newly built schedule with new numbers reuses the
compiled program; only a new *kind* of schedule compiles a new one. A closure
(what ``optax``'s own factories return) is compiled by its identity instead.

The classic cooling laws (Kirkpatrick, Gelatt & Vecchi 1983; Geman & Geman
1984) and the periodic re-heating of warm restarts (Loshchilov & Hutter 2017)
are provided; :func:`temperature_to_beta` and :func:`beta_to_temperature`
convert values and schedules alike, with ``T = 0`` <-> ``beta = +inf`` (zero
temperature: a kernel takes its greedy limit).
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from statjax._tree import as_pytree_fn
from statjax.checks import check_beta_values, check_count, check_positive
from statjax.pytree import Pytree

Schedule = optax.Schedule


def _temperature(name: str, value: Any) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless it is finite and > 0."""
    value = float(value)
    check_positive(name, value)
    return value


def _as_float32(step: jax.typing.ArrayLike) -> jax.Array:
    return jnp.asarray(step, jnp.float32)


class ConstantTemperature(Pytree):
    """``T_k = T`` (see :func:`constant_temperature`)."""

    temperature: float

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The temperature at ``step`` (same shape as ``step``)."""
        return jnp.full(jnp.shape(step), self.temperature, dtype=jnp.float32)


class LinearTemperature(Pytree):
    """``T_k = T_0 + (T_1 - T_0) min(k, K) / K`` (see :func:`linear_temperature`)."""

    initial_temperature: float
    final_temperature: float
    num_steps: int

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The temperature at ``step``."""
        fraction = jnp.clip(_as_float32(step) / self.num_steps, 0.0, 1.0)
        return (
            self.initial_temperature
            + (self.final_temperature - self.initial_temperature) * fraction
        )


class GeometricTemperature(Pytree):
    """``T_k = max(T_0 exp(k log alpha), T_min)`` (see :func:`geometric_temperature`).

    ``log_alpha`` is stored rather than ``alpha``: computed in float64 on the host,
    it keeps ``T_k`` accurate to float32 for ``alpha`` close to 1, where rounding
    ``alpha`` itself to float32 would shift the cooling rate.
    """

    initial_temperature: float
    log_alpha: float
    min_temperature: float = 0.0

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The temperature at ``step``."""
        # exp(k log alpha) rather than alpha**k: exact at k = 0 and smooth in k.
        value = self.initial_temperature * jnp.exp(_as_float32(step) * self.log_alpha)
        return jnp.maximum(value, self.min_temperature)


class LogarithmicTemperature(Pytree):
    """``T_k = T_0 / log(2 + k)`` (see :func:`logarithmic_temperature`)."""

    initial_temperature: float

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The temperature at ``step``."""
        return self.initial_temperature / jnp.log(2.0 + _as_float32(step))


class CosineTemperature(Pytree):
    """``T_k = T_1 + (T_0 - T_1) (1 + cos(pi min(k, K) / K)) / 2`` (:func:`cosine_temperature`)."""

    initial_temperature: float
    final_temperature: float
    num_steps: int

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The temperature at ``step``."""
        fraction = jnp.clip(_as_float32(step) / self.num_steps, 0.0, 1.0)
        spread = self.initial_temperature - self.final_temperature
        return self.final_temperature + spread * 0.5 * (1.0 + jnp.cos(jnp.pi * fraction))


class CyclicalTemperature(Pytree):
    """Cosine cooling restarted every ``cycle_length`` steps (see :func:`cyclical_temperature`)."""

    max_temperature: float
    min_temperature: float
    cycle_length: int

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The temperature at ``step``."""
        fraction = jnp.mod(_as_float32(step), self.cycle_length) / self.cycle_length
        spread = self.max_temperature - self.min_temperature
        return self.min_temperature + spread * 0.5 * (1.0 + jnp.cos(jnp.pi * fraction))


class Reciprocal(Pytree):
    """``step -> 1 / schedule(step)``: a beta schedule from a temperature one, or back.

    ``1 / 0 = +inf``: a temperature of 0 is ``beta = +inf`` (and ``beta = +inf``
    is ``T = 0``).
    """

    schedule: Callable

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """``1 / schedule(step)``."""
        return 1.0 / jnp.asarray(self.schedule(step))


class JoinedSchedule(Pytree):
    """Schedule ``i`` from ``boundaries[i - 1]`` on, its step counted from there.

    The rule of :func:`optax.join_schedules`, written as a pytree so that the
    pieces' numbers and the boundaries are leaves.
    """

    schedules: tuple
    boundaries: tuple

    def __call__(self, step: jax.typing.ArrayLike) -> jax.Array:
        """The value of the schedule in force at ``step``."""
        output = self.schedules[0](step)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:], strict=True):
            output = jnp.where(step < boundary, output, schedule(step - boundary))
        return output


def join_schedules(schedules: Sequence[Callable], boundaries: Sequence[int]) -> JoinedSchedule:
    r"""``optax.join_schedules(schedules, boundaries)`` as a pytree that never recompiles.

    Schedule ``i`` runs from boundary ``i - 1`` on, with its step counted from that
    boundary. Any callable works as a piece; statjax schedules (and ``Partial``\\ s)
    keep their numbers as leaves.

    Examples:
        >>> s = join_schedules([constant_temperature(2.0), geometric_temperature(2.0, 0.5)], [10])
        >>> [float(s(k)) for k in (9, 10, 11)]
        [2.0, 2.0, 1.0]
    """
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"join_schedules needs one boundary fewer than schedules, got {len(schedules)} "
            f"schedules and {len(boundaries)} boundaries."
        )
    return JoinedSchedule(
        tuple(as_pytree_fn(schedule) for schedule in schedules),
        tuple(check_count("boundaries", b, minimum=0) for b in boundaries),
    )


def constant_temperature(temperature: float) -> ConstantTemperature:
    """``T_k = T``.

    Examples:
        >>> float(constant_temperature(2.0)(10))
        2.0
    """
    return ConstantTemperature(_temperature("temperature", temperature))


def linear_temperature(
    initial_temperature: float, final_temperature: float, num_steps: int
) -> LinearTemperature:
    """Linear cooling ``T_k = T_0 + (T_1 - T_0) min(k, K) / K``, flat after ``K`` steps.

    Examples:
        >>> float(linear_temperature(1.0, 0.5, 10)(5))
        0.75
    """
    return LinearTemperature(
        _temperature("initial_temperature", initial_temperature),
        _temperature("final_temperature", final_temperature),
        check_count("num_steps", num_steps),
    )


def geometric_temperature(
    initial_temperature: float, alpha: float, min_temperature: float | None = None
) -> GeometricTemperature:
    """Geometric cooling ``T_k = T_0 alpha^k``, ``0 < alpha <= 1`` (Kirkpatrick et al. 1983).

    Args:
        initial_temperature: ``T_0 > 0``.
        alpha: the cooling factor per step, in ``(0, 1]``.
        min_temperature: optional floor ``T_min > 0``: ``T_k = max(T_0 alpha^k, T_min)``.

    Examples:
        >>> round(float(geometric_temperature(1.0, 0.98)(2)), 4)
        0.9604
    """
    t0 = _temperature("initial_temperature", initial_temperature)
    alpha = float(alpha)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1] (a cooling factor per step), got {alpha}.")
    floor = 0.0 if min_temperature is None else _temperature("min_temperature", min_temperature)
    return GeometricTemperature(t0, math.log(alpha), floor)


def logarithmic_temperature(initial_temperature: float) -> LogarithmicTemperature:
    """Logarithmic cooling ``T_k = T_0 / log(2 + k)`` (Geman & Geman 1984; Hajek 1988).

    Slow enough, for ``T_0`` above the depth of the deepest non-global well,
    for simulated annealing to converge to the global minima in probability.
    Note ``T_0`` is reached only in the limit ``log 2``: ``T_0 = T_0 / log 2`` at step 0.

    Examples:
        >>> round(float(logarithmic_temperature(1.0)(0)), 4)
        1.4427
    """
    return LogarithmicTemperature(_temperature("initial_temperature", initial_temperature))


def cosine_temperature(
    initial_temperature: float, final_temperature: float, num_steps: int
) -> CosineTemperature:
    """Cosine cooling ``T_k = T_1 + (T_0 - T_1) (1 + cos(pi min(k, K) / K)) / 2``.

    Examples:
        >>> float(cosine_temperature(2.0, 1.0, 10)(5))
        1.5
    """
    return CosineTemperature(
        _temperature("initial_temperature", initial_temperature),
        _temperature("final_temperature", final_temperature),
        check_count("num_steps", num_steps),
    )


def cyclical_temperature(
    max_temperature: float, min_temperature: float, cycle_length: int
) -> CyclicalTemperature:
    """Cosine cooling with warm restarts (periodic re-heating; Loshchilov & Hutter 2017).

    ``T_k = T_min + (T_max - T_min) (1 + cos(pi r_k)) / 2`` with
    ``r_k = (k mod L) / L``: each cycle of ``L`` steps cools from ``T_max``
    towards ``T_min``, then the temperature jumps back to ``T_max``.

    Examples:
        >>> s = cyclical_temperature(2.0, 1.0, 4)
        >>> [float(s(k)) for k in (0, 2, 4)]
        [2.0, 1.5, 2.0]
    """
    return CyclicalTemperature(
        _temperature("max_temperature", max_temperature),
        _temperature("min_temperature", min_temperature),
        check_count("cycle_length", cycle_length),
    )


def temperature_to_beta(temperature: Any) -> Any:
    """``beta = 1 / T`` for a float, an array, or a schedule (which gives a beta schedule).

    ``T >= 0``, finite; ``T = 0`` gives ``beta = +inf``, zero temperature, where
    every statjax kernel takes its greedy limit (docs/design-decisions.md).

    Examples:
        >>> float(temperature_to_beta(4.0))
        0.25
        >>> float(temperature_to_beta(0.0))
        inf
        >>> float(temperature_to_beta(constant_temperature(2.0))(0))
        0.5
    """
    if callable(temperature):
        return Reciprocal(as_pytree_fn(temperature))
    if not isinstance(temperature, jax.core.Tracer):
        check_positive("temperature", temperature, allow_zero=True)
    return _reciprocal(temperature)


def beta_to_temperature(beta: Any) -> Any:
    """``T = 1 / beta`` for a float, an array, or a schedule (which gives a temperature schedule).

    ``beta > 0``; ``beta = +inf`` gives ``T = 0``.

    Examples:
        >>> float(beta_to_temperature(0.5))
        2.0
    """
    if callable(beta):
        return Reciprocal(as_pytree_fn(beta))
    if not isinstance(beta, jax.core.Tracer):
        check_beta_values(np.asarray(beta), "beta")
    return _reciprocal(beta)


def _reciprocal(value: Any) -> jax.Array:
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.result_type(float))
    return 1.0 / value  # 1 / 0 = inf and 1 / inf = 0 in IEEE arithmetic: T = 0 <-> beta = inf


__all__ = [
    "ConstantTemperature",
    "CosineTemperature",
    "CyclicalTemperature",
    "GeometricTemperature",
    "JoinedSchedule",
    "LinearTemperature",
    "LogarithmicTemperature",
    "Reciprocal",
    "Schedule",
    "beta_to_temperature",
    "constant_temperature",
    "cosine_temperature",
    "cyclical_temperature",
    "geometric_temperature",
    "join_schedules",
    "linear_temperature",
    "logarithmic_temperature",
    "temperature_to_beta",
]
