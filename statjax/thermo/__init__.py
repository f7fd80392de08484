"""Thermodynamics: exact and estimated partition functions, observables, free energies."""

from statjax.thermo.entropy import (
    categorical_entropy,
    entropy_from_logits,
    expected_calibration_error,
    expected_entropy,
    free_energy_loss,
    mutual_information,
    negative_log_likelihood,
    predictive_entropy,
    reliability_diagram,
)
from statjax.thermo.grid import grid_density, grid_expectation, grid_log_z

__all__ = [
    "categorical_entropy",
    "entropy_from_logits",
    "expected_calibration_error",
    "expected_entropy",
    "free_energy_loss",
    "grid_density",
    "grid_expectation",
    "grid_log_z",
    "mutual_information",
    "negative_log_likelihood",
    "predictive_entropy",
    "reliability_diagram",
]
