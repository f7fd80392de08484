r"""Deep energy-based models: Flax energy networks, contrastive divergence, score matching.

A deep EBM is a network ``E_theta(x)`` read as a Boltzmann density

.. math::

    p_\theta(x) = e^{-E_\theta(x)} / Z(\theta), \qquad
    \nabla_\theta \log p_\theta(x) = -\nabla_\theta E_\theta(x)
        + \mathbb{E}_{x^- \sim p_\theta}[\nabla_\theta E_\theta(x^-)].

Networks (:class:`EnergyMLP` for vectors, :class:`EnergyConvNet` for images) use
smooth activations (swish by default) so that ``grad_x E`` is continuous and
Langevin dynamics behaves. :func:`energy_function` turns a module into the pure
``energy(params, x)`` that every function here takes; ``energy.bind(params)`` is
the one-argument energy ``x -> E_theta(x)`` of any statjax kernel or estimator,
with the parameters as traced leaves (a new ``params`` never recompiles).

Two objectives train the same networks:

- **Contrastive divergence with short-run Langevin and a replay buffer**
  (Du & Mordatch 2019, "Implicit generation and generalization in energy-based
  models"): negatives come from a few sampler steps started, per slot, from a
  persistent buffer or, with probability ``reinit_prob`` (about 5 %), from fresh
  uniform noise; the loss is
  ``mean E(x+) - mean E(x-) + alpha mean(E(x+)^2 + E(x-)^2)``.
  The sampler is any statjax kernel: :func:`statjax.samplers.du_mordatch_langevin`
  (their SGLD, with separate step size and noise scale and clipped gradients), or
  :func:`statjax.ula`, :func:`statjax.mala`, :func:`statjax.hmc`, run by
  :func:`short_run_chains` through the one driver
  (:func:`statjax.samplers.loop.sample_chains`).
- **Denoising score matching** (Vincent 2011, "A connection between score
  matching and denoising autoencoders"), which needs no sampling.

Training takes optax optimizers (static: build them once) or
:func:`statjax.optim.tunable` ones (traced: a sweep over learning rates compiles
once).

Evaluation: :func:`grid_log_likelihood` (exact ``log Z`` by quadrature in 2-D,
hence exact log-likelihoods), :func:`grid_samples` (exact draws from the grid
density) and :func:`mmd_squared` (unbiased maximum mean discrepancy, Gretton et
al. 2012) in any dimension.


One concern per module: :mod:`~statjax.models.ebm.networks` (energy networks),
:mod:`~statjax.models.ebm.chains` (short-run chains), :mod:`~statjax.models.ebm.replay`
(the replay buffer), :mod:`~statjax.models.ebm.objectives` (the losses),
:mod:`~statjax.models.ebm.training` (state, updates, training loops) and
:mod:`~statjax.models.ebm.evaluation`.
"""

from statjax.models.ebm.chains import Sampler, short_run_chains
from statjax.models.ebm.evaluation import (
    grid_log_likelihood,
    grid_samples,
    median_bandwidth,
    mmd_squared,
)
from statjax.models.ebm.networks import EnergyConvNet, EnergyFunction, EnergyMLP, energy_function
from statjax.models.ebm.objectives import (
    contrastive_divergence_loss,
    denoising_score_matching_loss,
)
from statjax.models.ebm.replay import sample_replay_buffer
from statjax.models.ebm.training import (
    ContrastiveDivergenceSettings,
    EBMTrainState,
    TrainMetrics,
    contrastive_divergence_step,
    init_training,
    score_matching_step,
    train_contrastive_divergence,
    train_score_matching,
)
from statjax.samplers.du_mordatch import DuMordatchLangevin, du_mordatch_langevin

__all__ = [
    "ContrastiveDivergenceSettings",
    "DuMordatchLangevin",
    "EBMTrainState",
    "EnergyConvNet",
    "EnergyFunction",
    "EnergyMLP",
    "Sampler",
    "TrainMetrics",
    "contrastive_divergence_loss",
    "contrastive_divergence_step",
    "denoising_score_matching_loss",
    "du_mordatch_langevin",
    "energy_function",
    "grid_log_likelihood",
    "grid_samples",
    "init_training",
    "median_bandwidth",
    "mmd_squared",
    "sample_replay_buffer",
    "score_matching_step",
    "short_run_chains",
    "train_contrastive_divergence",
    "train_score_matching",
]
