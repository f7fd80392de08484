"""MCMC kernels under one API: ``init(position)``, ``step(key, state, beta)``."""

from statjax.samplers.adaptation import (
    DualAveragingState,
    adapt_step_size,
    dual_averaging_init,
    dual_averaging_update,
)
from statjax.samplers.base import (
    AcceptanceInfo,
    accept_with_log_uniform,
    metropolis_hastings_accept,
)
from statjax.samplers.hmc import HamiltonianMonteCarlo, HMCInfo, HMCState, hmc
from statjax.samplers.langevin import (
    LangevinState,
    MetropolisAdjustedLangevin,
    UnadjustedLangevin,
    mala,
    ula,
)
from statjax.samplers.metropolis import MetropolisState, RandomWalkMetropolis, metropolis
from statjax.samplers.run import run_chains

__all__ = [
    "AcceptanceInfo",
    "DualAveragingState",
    "HMCInfo",
    "HMCState",
    "HamiltonianMonteCarlo",
    "LangevinState",
    "MetropolisAdjustedLangevin",
    "MetropolisState",
    "RandomWalkMetropolis",
    "UnadjustedLangevin",
    "accept_with_log_uniform",
    "adapt_step_size",
    "dual_averaging_init",
    "dual_averaging_update",
    "hmc",
    "mala",
    "metropolis",
    "metropolis_hastings_accept",
    "run_chains",
    "ula",
]
