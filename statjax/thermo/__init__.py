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
from statjax.thermo.exact import (
    ExactThermodynamics,
    exact_log_z,
    exact_thermodynamics,
)
from statjax.thermo.grid import grid_density, grid_expectation, grid_log_z
from statjax.thermo.observables import (
    Estimate,
    SpinObservables,
    abs_magnetization_per_spin,
    binder_cumulant,
    energy_per_spin,
    heat_capacity_per_spin,
    jackknife,
    spin_observables,
    susceptibility_per_spin,
)
from statjax.thermo.onsager import (
    CRITICAL_BETA,
    elliptic_k,
    onsager_critical_beta,
    onsager_free_energy,
    onsager_heat_capacity,
    onsager_internal_energy,
    onsager_magnetization,
)

__all__ = [
    "exact_thermodynamics",
    "exact_log_z",
    "ExactThermodynamics",
    "onsager_critical_beta",
    "onsager_free_energy",
    "onsager_internal_energy",
    "onsager_heat_capacity",
    "onsager_magnetization",
    "elliptic_k",
    "CRITICAL_BETA",
    "energy_per_spin",
    "abs_magnetization_per_spin",
    "heat_capacity_per_spin",
    "susceptibility_per_spin",
    "binder_cumulant",
    "spin_observables",
    "SpinObservables",
    "Estimate",
    "jackknife",
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
