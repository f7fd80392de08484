"""statjax: energy landscapes, samplers, annealing and thermodynamics in JAX.

Temperature is an argument of every kernel, never a constant: one compiled
kernel serves every chain, every temperature and every step of a schedule.
"""

from statjax import anneal, diagnostics, energy, models, optim, parallel, samplers, thermo
from statjax.moments import (
    RunningMoments,
    running_moments_init,
    running_moments_merge,
    running_moments_update,
)
from statjax.samplers import hmc, mala, metropolis, run_chains, ula

__version__ = "0.1.0"

__all__ = [
    "RunningMoments",
    "anneal",
    "diagnostics",
    "energy",
    "hmc",
    "mala",
    "metropolis",
    "models",
    "optim",
    "parallel",
    "run_chains",
    "running_moments_init",
    "running_moments_merge",
    "running_moments_update",
    "samplers",
    "thermo",
    "ula",
]
