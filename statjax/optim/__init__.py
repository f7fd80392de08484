"""Temperature-controlled optimizers: SG-MCMC samplers as optax transforms.

Every transform follows optax's sign convention (updates are *added* to the
parameters) and receives gradients of an energy ``U`` (a loss); at temperature
``T`` the samplers target ``exp(-U / T)``. Learning rates and temperatures may
be ``optax.Schedule``s of the step count; keys, momenta and thermostats live in
the optax state, so the transforms chain with the rest of optax and vmap over
chains.
"""

from statjax.optim.cyclical import (
    cycle_fraction,
    cyclical_sgld,
    cyclical_step_size,
    cyclical_temperature,
    is_sampling_phase,
)
from statjax.optim.entropy_sgd import (
    LocalEntropyState,
    entropy_sgd,
    local_entropy_gradient,
    scoping_schedule,
)
from statjax.optim.gradient_noise import annealed_gradient_noise
from statjax.optim.posterior import (
    CollectorState,
    PosteriorCollector,
    ensemble_mean,
    ensemble_probabilities,
    posterior_collector,
    sample_predictions,
)
from statjax.optim.psgld import PSGLDState, psgld
from statjax.optim.sghmc import SGHMCState, sghmc
from statjax.optim.sgld import SGLDState, sgld
from statjax.optim.sgnht import SGNHTState, kinetic_temperature, sgnht
from statjax.optim.hyperparameters import TunableOptimizer, split_optimizer, tunable

__all__ = [
    "CollectorState",
    "LocalEntropyState",
    "PSGLDState",
    "PosteriorCollector",
    "SGHMCState",
    "SGLDState",
    "SGNHTState",
    "TunableOptimizer",
    "annealed_gradient_noise",
    "cycle_fraction",
    "cyclical_sgld",
    "cyclical_step_size",
    "cyclical_temperature",
    "ensemble_mean",
    "ensemble_probabilities",
    "entropy_sgd",
    "is_sampling_phase",
    "kinetic_temperature",
    "local_entropy_gradient",
    "posterior_collector",
    "psgld",
    "sample_predictions",
    "scoping_schedule",
    "sghmc",
    "sgld",
    "sgnht",
    "split_optimizer",
    "tunable",
]
