"""Annealing: temperature schedules (optax-compatible)."""

from statjax.anneal.annealing import (
    AnnealingResult,
    GaussianProposal,
    Proposal,
    gaussian_proposal,
    kernel_annealing,
    simulated_annealing,
)
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
    "AnnealingResult",
    "GaussianProposal",
    "Proposal",
    "gaussian_proposal",
    "simulated_annealing",
    "kernel_annealing",
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
