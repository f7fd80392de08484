"""Temperature-controlled optimizers: SG-MCMC samplers as optax transforms.

Every transform follows optax's sign convention (updates are *added* to the
parameters) and receives gradients of an energy ``U`` (a loss); at temperature
``T`` the samplers target ``exp(-U / T)``. Learning rates and temperatures may
be ``optax.Schedule``s of the step count; keys, momenta and thermostats live in
the optax state, so the transforms chain with the rest of optax and vmap over
chains.

Non-finite gradients: a gradient with any NaN or infinite entry is refused as a
whole. The update is zero, the momentum, thermostat and preconditioner keep
their values, the step count still advances (so schedules, cyclical stages and
the key of step ``t`` stay functions of the training loop's step) and the
state's ``num_refused`` counts the refusal; finite gradients are updated exactly
as before. ``optax.apply_if_finite`` is not used: it freezes the wrapped state's
count (the schedules would lag the caller's step) and gives up after
``max_consecutive_errors``. Entropy-SGD's inner SGLD loop refuses inner steps in
the same way.

Hyperparameters that never recompile: :func:`tunable` (``tunable(optax.adam,
learning_rate=1e-3)``, or ``tunable(sgld, learning_rate=1e-2, temperature=1.0)``)
carries the numbers as pytree leaves.
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
from statjax.optim.hyperparameters import TunableOptimizer, split_optimizer, tunable
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
