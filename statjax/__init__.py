"""statjax: energy landscapes, samplers, annealing and thermodynamics in JAX.

Temperature is an argument of every kernel, never a constant: one compiled
kernel serves every chain, every temperature and every step of a schedule.
"""

from statjax import (
    anneal,
    calibration,
    checks,
    diagnostics,
    energy,
    export,
    models,
    optim,
    parallel,
    pytree,
    random,
    samplers,
    stein,
    thermo,
)
from statjax.moments import (
    RunningMoments,
    running_moments_init,
    running_moments_merge,
    running_moments_update,
)
from statjax.pytree import Pytree, static_field
from statjax.samplers import hmc, mala, metropolis, run_chains, ula

# The one place the version is written: pyproject.toml reads it (tool.setuptools.dynamic).
__version__ = "0.1.0"

__all__ = [
    "Pytree",
    "RunningMoments",
    "anneal",
    "calibration",
    "checks",
    "diagnostics",
    "energy",
    "export",
    "hmc",
    "mala",
    "metropolis",
    "models",
    "optim",
    "parallel",
    "pytree",
    "random",
    "run_chains",
    "running_moments_init",
    "running_moments_merge",
    "running_moments_update",
    "samplers",
    "static_field",
    "stein",
    "thermo",
    "ula",
]
