"""MCMC kernels under one API: ``init(position)``, ``step(key, state, beta)``."""

from statjax.samplers.adaptation import (
    DualAveragingState,
    adapt_step_size,
    dual_averaging_init,
    dual_averaging_update,
)
from statjax.samplers.base import (
    AcceptanceInfo,
    ChainState,
    Kernel,
    StepInfo,
    accept_with_log_uniform,
    metropolis_hastings_accept,
)
from statjax.samplers.cluster import (
    ClusterInfo,
    SwendsenWang,
    Wolff,
    WolffInfo,
    connected_components,
    swendsen_wang,
    wolff,
)
from statjax.samplers.discrete import (
    DiscreteInfo,
    DiscreteLangevin,
    DiscreteState,
    GibbsWithGradients,
    dmala,
    gibbs_with_gradients,
    relaxed_energy,
)
from statjax.samplers.du_mordatch import DuMordatchLangevin, du_mordatch_langevin
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
from statjax.samplers.lattice_sharded import (
    ShardedCheckerboardIsing,
    row_mesh,
    sharded_checkerboard,
)
from statjax.samplers.loop import Reducer, sample_chains
from statjax.samplers.metropolis import (
    MetropolisState,
    Proposal,
    ProposalMetropolis,
    RandomWalkMetropolis,
    metropolis,
)
from statjax.samplers.run import run_chains
from statjax.samplers.tempering import (
    SWAP_SCHEMES,
    LadderTuning,
    ReplicaExchange,
    ReplicaExchangeInfo,
    ReplicaExchangeState,
    TemperingStatistics,
    adapted_ladder,
    positions_by_temperature,
    predicted_round_trip_rate,
    replica_exchange,
    state_at_temperature,
    tempering_statistics,
    tune_ladder,
)

__all__ = [
    "SWAP_SCHEMES",
    "AcceptanceInfo",
    "ChainState",
    "CheckerboardIsing",
    "CheckerboardPotts",
    "ClusterInfo",
    "ColoredSweep",
    "DiscreteInfo",
    "DiscreteLangevin",
    "DiscreteState",
    "DuMordatchLangevin",
    "DualAveragingState",
    "GibbsWithGradients",
    "HMCInfo",
    "HMCState",
    "HamiltonianMonteCarlo",
    "IsingLatticeState",
    "Kernel",
    "LadderTuning",
    "LangevinState",
    "MetropolisAdjustedLangevin",
    "MetropolisState",
    "PottsState",
    "Proposal",
    "ProposalMetropolis",
    "RandomWalkMetropolis",
    "Reducer",
    "ReplicaExchange",
    "ReplicaExchangeInfo",
    "ReplicaExchangeState",
    "SequentialSweep",
    "ShardedCheckerboardIsing",
    "SpinState",
    "StepInfo",
    "SweepInfo",
    "SwendsenWang",
    "TemperingStatistics",
    "UnadjustedLangevin",
    "accept_with_log_uniform",
    "adapt_step_size",
    "adapted_ladder",
    "checkerboard",
    "colored_sweep",
    "connected_components",
    "dmala",
    "du_mordatch_langevin",
    "dual_averaging_init",
    "dual_averaging_update",
    "gibbs_with_gradients",
    "hmc",
    "mala",
    "metropolis",
    "metropolis_hastings_accept",
    "positions_by_temperature",
    "predicted_round_trip_rate",
    "relaxed_energy",
    "replica_exchange",
    "row_mesh",
    "run_chains",
    "sample_chains",
    "sequential_sweep",
    "sharded_checkerboard",
    "state_at_temperature",
    "swendsen_wang",
    "tempering_statistics",
    "tune_ladder",
    "ula",
]

# MCLMC, the full-batch thermostats, NUTS and windowed adaptation (issue 17).
from statjax.samplers.mclmc import (
    MCLMC,
    MCLMCInfo,
    MCLMCState,
    MCLMCTuning,
    mclmc,
    tune_mclmc,
)
from statjax.samplers.multispin import (
    MultispinIsing,
    MultispinState,
    multispin_checkerboard,
    pack_spins,
    unpack_spins,
)
from statjax.samplers.nuts import NoUTurnSampler, NUTSInfo, NUTSState, nuts
from statjax.samplers.thermostats import (
    BAOAB,
    MetropolizedOBABO,
    NoseHooverChain,
    NoseHooverInfo,
    NoseHooverState,
    ThermostatInfo,
    ThermostatState,
    baoab,
    nose_hoover_chain,
    obabo,
)
from statjax.samplers.window_adaptation import (
    WelfordState,
    WindowAdaptationState,
    window_adaptation,
    window_schedule,
)

__all__ += [
    "BAOAB",
    "MCLMC",
    "MCLMCInfo",
    "MCLMCState",
    "MCLMCTuning",
    "MetropolizedOBABO",
    "NoseHooverChain",
    "NoseHooverInfo",
    "NoseHooverState",
    "ThermostatInfo",
    "ThermostatState",
    "baoab",
    "mclmc",
    "nose_hoover_chain",
    "obabo",
    "tune_mclmc",
]

__all__ += [
    "NUTSInfo",
    "NUTSState",
    "NoUTurnSampler",
    "WelfordState",
    "WindowAdaptationState",
    "nuts",
    "window_adaptation",
    "window_schedule",
]

__all__ += [
    "MultispinIsing",
    "MultispinState",
    "Wolff",
    "WolffInfo",
    "multispin_checkerboard",
    "pack_spins",
    "unpack_spins",
    "wolff",
]
