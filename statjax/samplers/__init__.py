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
from statjax.samplers.cluster import (
    ClusterInfo,
    SwendsenWang,
    connected_components,
    swendsen_wang,
)
from statjax.samplers.hmc import HamiltonianMonteCarlo, HMCInfo, HMCState, hmc
from statjax.samplers.langevin import (
    LangevinState,
    MetropolisAdjustedLangevin,
    UnadjustedLangevin,
    mala,
    ula,
)
from statjax.samplers.lattice import (
    CheckerboardIsing,
    CheckerboardPotts,
    ColoredSweep,
    IsingLatticeState,
    PottsState,
    SequentialSweep,
    SpinState,
    SweepInfo,
    checkerboard,
    colored_sweep,
    sequential_sweep,
)
from statjax.samplers.metropolis import MetropolisState, RandomWalkMetropolis, metropolis
from statjax.samplers.run import run_chains

__all__ = [
    "checkerboard",
    "colored_sweep",
    "sequential_sweep",
    "CheckerboardIsing",
    "CheckerboardPotts",
    "ColoredSweep",
    "SequentialSweep",
    "IsingLatticeState",
    "PottsState",
    "SpinState",
    "SweepInfo",
    "swendsen_wang",
    "SwendsenWang",
    "ClusterInfo",
    "connected_components",
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
