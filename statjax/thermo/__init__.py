"""Thermodynamics: exact and estimated partition functions, observables, free energies.

Also the large deviations of an observable (a loss) by tilted ensembles.
"""

from statjax.thermo.ais import (
    AISResult,
    ais,
    ais_estimate,
    ais_geometric,
    importance_sampling_ess,
    log_mean_exp,
)
from statjax.thermo.entropy import (
    categorical_entropy,
    entropy_from_logits,
    expected_entropy,
    free_energy_loss,
    mutual_information,
    negative_log_likelihood,
    predictive_entropy,
)
from statjax.thermo.exact import (
    ExactThermodynamics,
    exact_log_z,
    exact_thermodynamics,
)
from statjax.thermo.grid import grid_density, grid_expectation, grid_log_z
from statjax.thermo.integration import (
    QUADRATURE_RULES,
    ThermodynamicIntegration,
    entropy_from_free_energy,
    free_energy,
    simpson_weights,
    thermodynamic_integration,
    trapezoid_weights,
)
from statjax.thermo.large_deviations import (
    TILT_LADDER_FIELDS,
    LargeDeviationRate,
    TiltedSamples,
    adapt_tilted_step_sizes,
    large_deviation_rate,
    sample_tilted,
    tilt_ladder,
)
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
    "CRITICAL_BETA",
    "QUADRATURE_RULES",
    "TILT_LADDER_FIELDS",
    "AISResult",
    "Estimate",
    "ExactThermodynamics",
    "LargeDeviationRate",
    "SpinObservables",
    "ThermodynamicIntegration",
    "TiltedSamples",
    "abs_magnetization_per_spin",
    "adapt_tilted_step_sizes",
    "ais",
    "ais_estimate",
    "ais_geometric",
    "binder_cumulant",
    "categorical_entropy",
    "elliptic_k",
    "energy_per_spin",
    "entropy_from_free_energy",
    "entropy_from_logits",
    "exact_log_z",
    "exact_thermodynamics",
    "expected_entropy",
    "free_energy",
    "free_energy_loss",
    "grid_density",
    "grid_expectation",
    "grid_log_z",
    "heat_capacity_per_spin",
    "importance_sampling_ess",
    "jackknife",
    "large_deviation_rate",
    "log_mean_exp",
    "mutual_information",
    "negative_log_likelihood",
    "onsager_critical_beta",
    "onsager_free_energy",
    "onsager_heat_capacity",
    "onsager_internal_energy",
    "onsager_magnetization",
    "predictive_entropy",
    "sample_tilted",
    "simpson_weights",
    "spin_observables",
    "susceptibility_per_spin",
    "thermodynamic_integration",
    "tilt_ladder",
    "trapezoid_weights",
]

# Free energies at scale (helper F, issue 18): SMC, ladder estimators, density of states.
from statjax.thermo.bridge import (
    LADDER_METHODS,
    LadderLogZ,
    bar,
    ladder_log_z,
    mbar,
    temperature_energies,
)
from statjax.thermo.kaufman import kaufman_free_energy, kaufman_log_z
from statjax.thermo.overlaps import (
    OverlapStatistics,
    overlap_distribution,
    overlap_statistics,
    replica_overlap,
)
from statjax.thermo.scaling import ScalingCollapse, binder_crossing, scaling_collapse
from statjax.thermo.smc import (
    RESAMPLING_SCHEMES,
    SMCResult,
    adaptive_tempered_smc,
    population_annealing,
)
from statjax.thermo.wang_landau import (
    DensityOfStates,
    ThermodynamicsFromDensity,
    exact_density_of_states,
    thermodynamics_from_density_of_states,
    wang_landau,
)
from statjax.thermo.work import crooks_free_energy, jarzynski_free_energy, protocol_work

__all__ += [
    "LADDER_METHODS",
    "RESAMPLING_SCHEMES",
    "DensityOfStates",
    "LadderLogZ",
    "OverlapStatistics",
    "SMCResult",
    "ScalingCollapse",
    "ThermodynamicsFromDensity",
    "adaptive_tempered_smc",
    "bar",
    "binder_crossing",
    "crooks_free_energy",
    "exact_density_of_states",
    "jarzynski_free_energy",
    "kaufman_free_energy",
    "kaufman_log_z",
    "ladder_log_z",
    "mbar",
    "overlap_distribution",
    "overlap_statistics",
    "population_annealing",
    "protocol_work",
    "replica_overlap",
    "scaling_collapse",
    "temperature_energies",
    "thermodynamics_from_density_of_states",
    "wang_landau",
]
