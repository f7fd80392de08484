"""Annealing: temperature schedules (optax-compatible pytrees) and simulated annealing."""

from statjax.anneal.annealing import (
    AnnealingResult,
    kernel_annealing,
    simulated_annealing,
)
from statjax.anneal.schedules import (
    ConstantTemperature,
    CosineTemperature,
    CyclicalTemperature,
    GeometricTemperature,
    JoinedSchedule,
    LinearTemperature,
    LogarithmicTemperature,
    Reciprocal,
    beta_to_temperature,
    constant_temperature,
    cosine_temperature,
    cyclical_temperature,
    geometric_temperature,
    join_schedules,
    linear_temperature,
    logarithmic_temperature,
    temperature_to_beta,
)

__all__ = [
    "AnnealingResult",
    "ConstantTemperature",
    "CosineTemperature",
    "CyclicalTemperature",
    "GeometricTemperature",
    "JoinedSchedule",
    "LinearTemperature",
    "LogarithmicTemperature",
    "Reciprocal",
    "beta_to_temperature",
    "constant_temperature",
    "cosine_temperature",
    "cyclical_temperature",
    "geometric_temperature",
    "join_schedules",
    "kernel_annealing",
    "linear_temperature",
    "logarithmic_temperature",
    "simulated_annealing",
    "temperature_to_beta",
]
