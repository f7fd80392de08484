r"""Restricted Boltzmann machines and deep belief networks, with exact and AIS ``log Z``.

A Bernoulli–Bernoulli RBM (Smolensky 1986; Hinton 2002) on visible ``v in {0,1}^V``
and hidden ``h in {0,1}^H`` has the energy and free energy

.. math::

    E(v, h) = -b^\top v - c^\top h - v^\top W h, \qquad
    F(v) = -\log \sum_h e^{-E(v, h)} = -b^\top v - \sum_j \mathrm{softplus}(c_j + (v^\top W)_j),

and ``p(v) = exp(-F(v)) / Z``. The Gaussian–Bernoulli RBM (Hinton & Salakhutdinov
2006; the ``v / sigma^2`` form of Cho, Ilin & Raiko 2011) has real visible units,

.. math::

    E(v, h) = \sum_i \frac{(v_i - b_i)^2}{2 \sigma_i^2} - c^\top h
              - \sum_{ij} \frac{v_i}{\sigma_i^2} W_{ij} h_j,

so that ``p(v | h) = N(b + W h, diag(sigma^2))`` and the visible marginal is a
mixture of ``2^H`` Gaussians. At inverse temperature ``beta`` every conditional is
that of ``exp(-beta E)``: the logits are multiplied by ``beta`` and the Gaussian
variance divided by it.

Parameters are explicit pytrees (:class:`RBMParams`, :class:`GaussianRBMParams`);
every function here is a pure function of them. :class:`RBM` is a Flax Linen module
whose ``params`` convert with :func:`params_from_flax`.

- Sampling: :func:`block_gibbs` is a statjax kernel, so ``run_chains``, tempering
  and AIS work on it.
- Training (:func:`training_step`, :func:`train_rbm`): CD-k (Hinton 2002),
  persistent CD (Tieleman 2008) and parallel-tempering PCD; the gradient of the
  negative log-likelihood is estimated as ``grad [mean F(data) - mean F(negatives)]``
  so that any optax optimizer applies (a :func:`statjax.optim.tunable` one never
  recompiles). The chains run through the one driver with its key rule, so a
  resumed run repeats the uninterrupted one.
- Evaluation: :func:`exact_log_z` (enumerate the smaller layer),
  :func:`ais_log_z` (Salakhutdinov & Murray 2008), :func:`log_likelihood`,
  :func:`pseudo_log_likelihood`, :func:`reconstruction_error`.
- Deep belief networks (Hinton, Osindero & Teh 2006): :func:`train_dbn`,
  :func:`sample_dbn`.

One concern per module: :mod:`~statjax.models.rbm.params` (parameters and their
initialisation), :mod:`~statjax.models.rbm.linen` (the Flax module),
:mod:`~statjax.models.rbm.energies` (energies and conditionals),
:mod:`~statjax.models.rbm.sampling` (block Gibbs), :mod:`~statjax.models.rbm.training`,
:mod:`~statjax.models.rbm.log_z` (exact and AIS), :mod:`~statjax.models.rbm.evaluation`
and :mod:`~statjax.models.rbm.dbn`.
"""

from statjax.models.rbm.dbn import sample_dbn, train_dbn
from statjax.models.rbm.energies import (
    energy,
    free_energy,
    hidden_logits,
    hidden_probabilities,
    visible_mean,
)
from statjax.models.rbm.evaluation import (
    log_likelihood,
    pseudo_log_likelihood,
    reconstruction_error,
)
from statjax.models.rbm.gaussian_ais import GaussianBaseRatePath, gaussian_ais_log_z
from statjax.models.rbm.linen import RBM, params_from_flax
from statjax.models.rbm.log_z import (
    MAX_ENUMERATED_UNITS,
    ais_betas,
    ais_log_z,
    exact_log_z,
)
from statjax.models.rbm.params import (
    GaussianRBMParams,
    RBMParams,
    base_rate_visible_bias,
    init_rbm,
)
from statjax.models.rbm.sampling import (
    BlockGibbs,
    BlockGibbsState,
    RBMConfiguration,
    block_gibbs,
    gibbs_sweep,
    sample_hidden,
    sample_visible,
)
from statjax.models.rbm.training import (
    RBMTrainState,
    TrainMetrics,
    contrastive_loss,
    init_training,
    train_rbm,
    training_step,
)

__all__ = [
    "MAX_ENUMERATED_UNITS",
    "RBM",
    "BlockGibbs",
    "BlockGibbsState",
    "GaussianBaseRatePath",
    "GaussianRBMParams",
    "RBMConfiguration",
    "RBMParams",
    "RBMTrainState",
    "TrainMetrics",
    "ais_betas",
    "ais_log_z",
    "base_rate_visible_bias",
    "block_gibbs",
    "contrastive_loss",
    "energy",
    "exact_log_z",
    "free_energy",
    "gaussian_ais_log_z",
    "gibbs_sweep",
    "hidden_logits",
    "hidden_probabilities",
    "init_rbm",
    "init_training",
    "log_likelihood",
    "params_from_flax",
    "pseudo_log_likelihood",
    "reconstruction_error",
    "sample_dbn",
    "sample_hidden",
    "sample_visible",
    "train_dbn",
    "train_rbm",
    "training_step",
    "visible_mean",
]
