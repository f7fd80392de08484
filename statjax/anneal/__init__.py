"""Annealing: temperature schedules (optax-compatible)."""

from statjax.anneal.schedules import (
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
