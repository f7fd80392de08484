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
- Training (:func:`training_step`, :func:`train_rbm`): CD-k (Hinton 2002) and
  persistent CD (Tieleman 2008); the gradient of the negative log-likelihood is
  estimated as ``grad [mean F(data) - mean F(negatives)]`` so that any optax
  optimizer applies.
- Evaluation: :func:`exact_log_z` (enumerate the smaller layer),
  :func:`ais_log_z` (Salakhutdinov & Murray 2008), :func:`log_likelihood`,
  :func:`pseudo_log_likelihood`, :func:`reconstruction_error`.
- Deep belief networks (Hinton, Osindero & Teh 2006): :func:`train_dbn`,
  :func:`sample_dbn`.
"""

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from statjax.pytree import Pytree
from statjax.samplers.base import AcceptanceInfo
from statjax.samplers.lattice import site_uniforms
from statjax.samplers.tempering import (
    ReplicaExchangeState,
    replica_exchange,
    state_at_temperature,
)
from statjax.thermo.ais import AISResult, ais_estimate
from statjax.types import PRNGKey

MAX_ENUMERATED_UNITS = 25
"""Largest layer :func:`exact_log_z` enumerates (``2^25`` configurations)."""

# ------------------------------------------------------------------ parameters


class RBMParams(NamedTuple):
    """Parameters of a Bernoulli–Bernoulli RBM.

    Attributes:
        weights: ``W``, ``(num_visible, num_hidden)``.
        visible_bias: ``b``, ``(num_visible,)``.
        hidden_bias: ``c``, ``(num_hidden,)``.
    """

    weights: jax.Array
    visible_bias: jax.Array
    hidden_bias: jax.Array


class GaussianRBMParams(NamedTuple):
    """Parameters of a Gaussian–Bernoulli RBM (``v`` real, ``h`` binary).

    Attributes:
        weights: ``W``, ``(num_visible, num_hidden)``.
        visible_bias: ``b``, the mean of ``v`` given ``h = 0``, ``(num_visible,)``.
        hidden_bias: ``c``, ``(num_hidden,)``.
        log_sigma: ``log sigma``, visible standard deviations, ``(num_visible,)``;
            frozen in training with ``learn_sigma=False``.
    """

    weights: jax.Array
    visible_bias: jax.Array
    hidden_bias: jax.Array
    log_sigma: jax.Array


def init_rbm(
    key: PRNGKey,
    num_visible: int,
    num_hidden: int,
    *,
    weight_scale: float = 0.01,
    visible_bias: jax.typing.ArrayLike | None = None,
    gaussian: bool = False,
    sigma: float = 1.0,
) -> RBMParams | GaussianRBMParams:
    """Weights ``N(0, weight_scale^2)``, zero hidden biases (Hinton 2010, "A practical guide").

    Args:
        key: PRNG key for the weights.
        num_visible, num_hidden: layer sizes.
        weight_scale: standard deviation of the initial weights.
        visible_bias: initial ``b`` (default zeros); for binary data
            ``logit(data mean)`` is the usual choice (:func:`base_rate_visible_bias`).
        gaussian: build :class:`GaussianRBMParams` with ``sigma`` for every unit.

    Example:
        >>> import jax
        >>> params = init_rbm(jax.random.key(0), 6, 4)
        >>> params.weights.shape
        (6, 4)
    """
    if num_visible < 1 or num_hidden < 0:
        raise ValueError(
            f"need num_visible >= 1 and num_hidden >= 0, got {num_visible, num_hidden}."
        )
    weights = weight_scale * jax.random.normal(key, (num_visible, num_hidden))
    b = jnp.zeros(num_visible) if visible_bias is None else jnp.asarray(visible_bias, jnp.float32)
    c = jnp.zeros(num_hidden)
    if gaussian:
        return GaussianRBMParams(weights, b, c, jnp.full(num_visible, math.log(sigma)))
    return RBMParams(weights, b, c)


class RBM(nn.Module):
    """Flax Linen RBM whose ``__call__`` is the free energy ``F(v)``.

    The module only declares the parameters (so that they can be created with
    ``init`` and combined with other Flax code); the math lives in the pure
    functions of this module. Convert with :func:`params_from_flax`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> module = RBM(num_hidden=3)
        >>> variables = module.init(jax.random.key(0), jnp.zeros(5))
        >>> params = params_from_flax(variables["params"])
        >>> value = module.apply(variables, jnp.ones(5))
        >>> bool(jnp.allclose(value, free_energy(params, jnp.ones(5))))
        True
    """

    num_hidden: int
    gaussian: bool = False
    weight_scale: float = 0.01

    @nn.compact
    def __call__(self, visible: jax.Array) -> jax.Array:
        """The free energy ``F(v)`` of one or a batch of visible vectors."""
        num_visible = visible.shape[-1]
        weights = self.param(
            "weights", nn.initializers.normal(self.weight_scale), (num_visible, self.num_hidden)
        )
        visible_bias = self.param("visible_bias", nn.initializers.zeros, (num_visible,))
        hidden_bias = self.param("hidden_bias", nn.initializers.zeros, (self.num_hidden,))
        if self.gaussian:
            log_sigma = self.param("log_sigma", nn.initializers.zeros, (num_visible,))
            params = GaussianRBMParams(weights, visible_bias, hidden_bias, log_sigma)
        else:
            params = RBMParams(weights, visible_bias, hidden_bias)
        return free_energy(params, visible)


def params_from_flax(params: dict) -> RBMParams | GaussianRBMParams:
    """:class:`RBMParams` or :class:`GaussianRBMParams` from an :class:`RBM`'s ``params`` dict."""
    if "log_sigma" in params:
        return GaussianRBMParams(**params)
    return RBMParams(**params)


def _is_gaussian(params) -> bool:
    return isinstance(params, GaussianRBMParams)


# ------------------------------------------------------------ energies, conditionals


def energy(
    params: RBMParams | GaussianRBMParams, visible: jax.Array, hidden: jax.Array
) -> jax.Array:
    """The joint energy ``E(v, h)`` (see the module docstring); batch axes broadcast.

    Example:
        >>> import jax.numpy as jnp
        >>> params = RBMParams(jnp.ones((2, 1)), jnp.zeros(2), jnp.zeros(1))
        >>> float(energy(params, jnp.ones(2), jnp.ones(1)))
        -2.0
    """
    hidden = jnp.asarray(hidden, params.weights.dtype)
    coupling = jnp.einsum(
        "...i,ij,...j->...", _scaled_visible(params, visible), params.weights, hidden
    )
    field = hidden @ params.hidden_bias
    if _is_gaussian(params):
        sigma2 = jnp.exp(2.0 * params.log_sigma)
        quadratic = jnp.sum((visible - params.visible_bias) ** 2 / (2.0 * sigma2), -1)
        return quadratic - field - coupling
    return -(jnp.asarray(visible, params.weights.dtype) @ params.visible_bias) - field - coupling


def _scaled_visible(params, visible):
    """``v`` for a binary RBM, ``v / sigma^2`` for a Gaussian one (what couples to ``h``)."""
    visible = jnp.asarray(visible, params.weights.dtype)
    if _is_gaussian(params):
        return visible * jnp.exp(-2.0 * params.log_sigma)
    return visible


def hidden_logits(params, visible: jax.Array, beta: jax.typing.ArrayLike = 1.0) -> jax.Array:
    """Logits of ``p(h_j = 1 | v)``: ``beta (c + W^T v~)``, ``v~ = v`` or ``v / s^2``."""
    return beta * (params.hidden_bias + _scaled_visible(params, visible) @ params.weights)


def hidden_probabilities(params, visible: jax.Array, beta: jax.typing.ArrayLike = 1.0) -> jax.Array:
    """``p(h_j = 1 | v) = sigmoid(beta (c_j + sum_i v~_i W_ij))``, shape ``(..., num_hidden)``."""
    return jax.nn.sigmoid(hidden_logits(params, visible, beta))


def visible_mean(params, hidden: jax.Array, beta: jax.typing.ArrayLike = 1.0) -> jax.Array:
    """``E[v | h]`` at ``beta``: ``sigmoid(beta (b + W h))`` (binary) or ``b + W h`` (Gaussian)."""
    activation = params.visible_bias + jnp.asarray(hidden, params.weights.dtype) @ params.weights.T
    if _is_gaussian(params):
        return activation
    return jax.nn.sigmoid(beta * activation)


def free_energy(params, visible: jax.Array) -> jax.Array:
    r"""``F(v) = -log sum_h exp(-E(v, h))``, hidden units summed out with softplus.

    Binary: ``-b^T v - sum_j softplus(c_j + (v^T W)_j)``; Gaussian:
    ``sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j softplus(c_j + (v / sigma^2)^T W_j)``.
    Shape: ``visible (..., num_visible) -> (...)``.

    Example:
        >>> import jax.numpy as jnp
        >>> params = RBMParams(jnp.zeros((2, 1)), jnp.zeros(2), jnp.zeros(1))
        >>> print(round(float(free_energy(params, jnp.ones(2))), 4))  # -log 2
        -0.6931
    """
    softplus = jnp.sum(jax.nn.softplus(hidden_logits(params, visible)), -1)
    if _is_gaussian(params):
        sigma2 = jnp.exp(2.0 * params.log_sigma)
        return jnp.sum((visible - params.visible_bias) ** 2 / (2.0 * sigma2), -1) - softplus
    return -(jnp.asarray(visible, params.weights.dtype) @ params.visible_bias) - softplus


def _bernoulli(uniforms, probabilities):
    return (uniforms < probabilities).astype(probabilities.dtype)


def sample_hidden(params, key: PRNGKey, visible: jax.Array, beta=1.0) -> jax.Array:
    """Draw ``h ~ p_beta(h | v)`` (float 0/1), for any batch shape of ``visible``."""
    probabilities = hidden_probabilities(params, visible, beta)
    return _bernoulli(_uniforms(key, probabilities.shape), probabilities)


def sample_visible(params, key: PRNGKey, hidden: jax.Array, beta=1.0) -> jax.Array:
    """Draw ``v ~ p_beta(v | h)``: Bernoulli, or ``N(b + W h, sigma^2 / beta)`` (Gaussian RBM)."""
    mean = visible_mean(params, hidden, beta)
    if _is_gaussian(params):
        noise = jax.random.normal(key, mean.shape, mean.dtype)
        return (
            mean + jnp.exp(params.log_sigma) * jax.lax.rsqrt(jnp.asarray(beta, mean.dtype)) * noise
        )
    return _bernoulli(_uniforms(key, mean.shape), mean)


def _uniforms(key, shape):
    # One generator call keys a fused Threefry (lattice.py): on the CPU this is
    # several times faster than jax.random.uniform for the small draws of a sweep.
    return site_uniforms(key, tuple(shape))[0]


def gibbs_sweep(params, key: PRNGKey, visible: jax.Array, beta=1.0) -> tuple[jax.Array, jax.Array]:
    """One block-Gibbs sweep ``h ~ p_beta(h | v)``, then ``v' ~ p_beta(v | h)``; returns (v', h)."""
    key_hidden, key_visible = jax.random.split(key)
    hidden = sample_hidden(params, key_hidden, visible, beta)
    return sample_visible(params, key_visible, hidden, beta), hidden


# ------------------------------------------------------------------------ kernel


class RBMConfiguration(NamedTuple):
    """A joint configuration ``(v, h)`` of an RBM: the position of a Gibbs chain."""

    visible: jax.Array
    hidden: jax.Array


class BlockGibbsState(NamedTuple):
    """State of a block-Gibbs chain.

    Attributes:
        position: the :class:`RBMConfiguration` ``(v, h)``; ``h`` was drawn given
            the previous ``v``, and ``v`` given ``h``.
        energy: the untempered *joint* energy ``E(v, h)``.
    """

    position: RBMConfiguration
    energy: jax.Array


class BlockGibbs(Pytree):
    """Block-Gibbs kernel for ``p_beta(v, h) ∝ exp(-beta E(v, h))`` (Hinton 2002).

    A step draws all hidden units given ``v``, then all visible units given ``h``,
    from the tempered conditionals. Every step is accepted.

    The state's energy is the **joint** energy ``E(v, h)``, not the free energy:
    the tempered block-Gibbs chain leaves ``exp(-beta E(v, h))`` invariant, whose
    visible marginal is *not* ``exp(-beta F(v))`` for ``beta != 1``. With the joint
    energy, ``statjax.thermo.ais`` along ``beta`` and parallel tempering
    (swap ratio ``exp((beta_i - beta_j)(E_i - E_j))``) are exact. The visible
    marginal is recovered by observing ``state.position.visible``.

    ``params`` are pytree leaves: new weights never recompile.
    """

    params: RBMParams | GaussianRBMParams

    def init(self, position) -> BlockGibbsState:
        """Start at an :class:`RBMConfiguration`, or at a visible vector (``h = 0``).

        The starting ``h`` does not influence the chain: a step redraws it from ``v``.
        """
        if not isinstance(position, RBMConfiguration):
            visible = jnp.asarray(position, self.params.weights.dtype)
            hidden = jnp.zeros(visible.shape[:-1] + self.params.hidden_bias.shape, visible.dtype)
            position = RBMConfiguration(visible, hidden)
        return BlockGibbsState(position, energy(self.params, position.visible, position.hidden))

    def step(
        self, key: PRNGKey, state: BlockGibbsState, beta
    ) -> tuple[BlockGibbsState, AcceptanceInfo]:
        """One sweep ``h | v`` then ``v | h`` at inverse temperature ``beta``."""
        visible, hidden = gibbs_sweep(self.params, key, state.position.visible, beta)
        new = BlockGibbsState(
            RBMConfiguration(visible, hidden), energy(self.params, visible, hidden)
        )
        ones = jnp.ones_like(new.energy)
        return new, AcceptanceInfo(ones, ones.astype(bool))


def block_gibbs(params: RBMParams | GaussianRBMParams) -> BlockGibbs:
    """Block-Gibbs kernel of an RBM (see :class:`BlockGibbs`).

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = block_gibbs(init_rbm(jax.random.key(0), 6, 4, weight_scale=1.0))
        >>> final, visible = statjax.run_chains(kernel, jax.random.key(1), jnp.zeros((8, 6)), 20,
        ...                                     observe=lambda s: s.position.visible)
        >>> visible.shape
        (20, 8, 6)
    """
    return BlockGibbs(params)


# --------------------------------------------------------------------- training


class RBMTrainState(NamedTuple):
    """What training carries from step to step.

    Attributes:
        params: the RBM parameters.
        opt_state: the optax state.
        chains: the persistent visible chains ``(num_chains, num_visible)`` of PCD,
            ``None`` for CD-k, or for PT training the persistent
            :class:`~statjax.samplers.tempering.ReplicaExchangeState` of every chain.
        step: number of updates taken.
        ladder: ``(R,)`` inverse temperatures of PT training (``None`` otherwise).
    """

    params: RBMParams | GaussianRBMParams
    opt_state: optax.OptState
    chains: jax.Array | ReplicaExchangeState | None
    step: jax.Array
    ladder: jax.Array | None = None


class TrainMetrics(NamedTuple):
    """Per-update diagnostics: the contrastive free-energy gap and the reconstruction error."""

    free_energy_gap: jax.Array
    reconstruction_error: jax.Array


def init_training(
    params,
    optimizer: optax.GradientTransformation,
    chains: jax.Array | None = None,
    ladder: jax.typing.ArrayLike | None = None,
) -> RBMTrainState:
    """Training state for CD-k (``chains=None``), PCD (``chains`` the initial persistent
    visible states, ``(num_chains, num_visible)``; e.g. a random batch of data) or
    PT training (``chains`` and a ``ladder`` of inverse temperatures ending at 1;
    every replica of a chain starts at that chain's visible state)."""
    if chains is not None:
        chains = jnp.asarray(chains, params.weights.dtype)
    if ladder is not None:
        if chains is None:
            raise ValueError("PT training (a `ladder`) needs initial `chains`.")
        if np.asarray(ladder)[-1] != 1.0:
            raise ValueError(f"a PT training ladder must end at beta = 1, got {ladder}.")
        ladder = jnp.asarray(ladder, params.weights.dtype)
        kernel = replica_exchange(block_gibbs(params), ladder)
        replicas = jnp.repeat(chains[:, None, :], ladder.shape[0], axis=1)
        chains = jax.vmap(kernel.init)(replicas)
    # Strong dtypes everywhere: a weakly typed leaf (from a Python float) would
    # change type after the first update and make the jitted epoch compile twice.
    params = jax.tree_util.tree_map(_strong, params)
    opt_state = jax.tree_util.tree_map(_strong, optimizer.init(params))
    return RBMTrainState(params, opt_state, chains, jnp.zeros((), jnp.int32), ladder)


def _strong(x):
    return jax.lax.convert_element_type(x, jnp.result_type(x)) if isinstance(x, jax.Array) else x


def contrastive_loss(params, data: jax.Array, negatives: jax.Array) -> jax.Array:
    r"""``mean F(data) - mean F(negatives)``, whose gradient estimates ``-grad mean log p(data)``.

    ``grad log p(v) = -grad F(v) + E_model[grad F]``: the model expectation is
    replaced by negatives from a short Gibbs chain (CD-k, Hinton 2002) or from
    persistent chains (PCD, Tieleman 2008). ``negatives`` are held fixed
    (``stop_gradient``).
    """
    negatives = jax.lax.stop_gradient(negatives)
    return jnp.mean(free_energy(params, data)) - jnp.mean(free_energy(params, negatives))


def _gibbs_chain(params, key, visible, num_steps):
    def body(visible, step_key):
        return gibbs_sweep(params, step_key, visible)[0], None

    visible, _ = jax.lax.scan(body, visible, jax.random.split(key, num_steps))
    return visible


@partial(jax.jit, static_argnames=("optimizer", "num_gibbs_steps"))
def training_step(
    state: RBMTrainState,
    key: PRNGKey,
    batch: jax.Array,
    optimizer: optax.GradientTransformation,
    *,
    num_gibbs_steps: int = 1,
    learn_sigma: jax.typing.ArrayLike = True,
) -> tuple[RBMTrainState, TrainMetrics]:
    """One update by CD-k (``state.chains is None``), PCD-k or PT-k (persistent chains).

    CD-k starts ``num_gibbs_steps`` block-Gibbs sweeps at the batch (Hinton 2002);
    PCD continues the persistent chains instead (Tieleman 2008); with a ``ladder``
    every persistent chain is a parallel-tempering run of ``R`` replicas, advanced
    by ``num_gibbs_steps`` rounds (a Gibbs sweep of every replica, then swaps), and
    the negatives are the replicas at ``beta = 1`` (Desjardins et al. 2010; Cho,
    Raiko & Ilin 2010). The update is
    ``optimizer`` applied to ``grad contrastive_loss`` (so momentum, weight decay,
    schedules come from optax). ``learn_sigma=False`` keeps a Gaussian RBM's
    ``log_sigma`` fixed (its update is zeroed after the optimizer).

    ``optimizer`` is static: build it once, outside the loop.

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> data = (jax.random.uniform(jax.random.key(0), (32, 6)) < 0.3).astype(jnp.float32)
        >>> optimizer = optax.sgd(0.1)
        >>> state = init_training(init_rbm(jax.random.key(1), 6, 4), optimizer)
        >>> state, metrics = training_step(state, jax.random.key(2), data, optimizer)
        >>> int(state.step)
        1
    """
    params = state.params
    if state.ladder is not None:
        chains = _tempered_chains(params, key, state.chains, state.ladder, num_gibbs_steps)
        negatives = jax.vmap(state_at_temperature)(chains).position.visible
    else:
        start = batch if state.chains is None else state.chains
        negatives = _gibbs_chain(params, key, start, num_gibbs_steps)
        chains = None if state.chains is None else negatives
    gap, grads = jax.value_and_grad(contrastive_loss)(params, batch, negatives)
    updates, opt_state = optimizer.update(grads, state.opt_state, params)
    if _is_gaussian(params):
        # A traced switch, so that fixed and learned variances share one compilation.
        updates = updates._replace(log_sigma=jnp.where(learn_sigma, updates.log_sigma, 0.0))
    params = optax.apply_updates(params, updates)
    error = reconstruction_error(params, batch)
    new_state = RBMTrainState(params, opt_state, chains, state.step + 1, state.ladder)
    return new_state, TrainMetrics(gap, error)


def _tempered_chains(params, key, chains, ladder, num_rounds):
    """``num_rounds`` rounds of replica exchange (block Gibbs inside) for every chain.

    The replicas' cached energies were computed with the previous parameters, so
    they are refreshed first: the swap ratios must use the current energy.
    """
    kernel = replica_exchange(block_gibbs(params), ladder)
    positions = chains.replica_states.position
    energies = energy(params, positions.visible, positions.hidden)
    chains = chains._replace(
        energy=energies, replica_states=chains.replica_states._replace(energy=energies)
    )
    num_chains = energies.shape[0]

    def body(chains, round_key):
        keys = jax.random.split(round_key, num_chains)
        return jax.vmap(kernel.step, in_axes=(0, 0, None))(keys, chains, 1.0)[0], None

    chains, _ = jax.lax.scan(body, chains, jax.random.split(key, num_rounds))
    return chains


@partial(jax.jit, static_argnames=("optimizer", "num_gibbs_steps", "batch_size"))
def _train_epoch(state, key, data, optimizer, *, num_gibbs_steps, learn_sigma, batch_size):
    key_permute, key_steps = jax.random.split(key)
    num_batches = data.shape[0] // batch_size
    order = jax.random.permutation(key_permute, data.shape[0])[: num_batches * batch_size]
    batches = data[order].reshape(num_batches, batch_size, data.shape[-1])

    def body(state, x):
        batch, step_key = x
        return training_step(
            state, step_key, batch, optimizer,
            num_gibbs_steps=num_gibbs_steps, learn_sigma=learn_sigma,
        )  # fmt: skip

    state, metrics = jax.lax.scan(body, state, (batches, jax.random.split(key_steps, num_batches)))
    return state, jax.tree_util.tree_map(jnp.mean, metrics)


def train_rbm(
    key: PRNGKey,
    params,
    data: jax.Array,
    optimizer: optax.GradientTransformation,
    *,
    num_epochs: int,
    batch_size: int,
    num_gibbs_steps: int = 1,
    persistent: bool = False,
    num_chains: int | None = None,
    learn_sigma: bool = True,
    ladder: jax.typing.ArrayLike | None = None,
    callback: Callable[[int, RBMTrainState, TrainMetrics], None] | None = None,
) -> tuple[RBMTrainState, list[TrainMetrics]]:
    """Train by CD-k, PCD-k or PT-k for ``num_epochs`` passes over ``data`` in shuffled minibatches.

    Each epoch is one jitted ``lax.scan`` over the minibatches (the remainder of
    ``len(data) / batch_size`` is dropped that epoch). PCD's ``num_chains``
    (default ``batch_size``) persistent chains start at random data rows.

    Args:
        key: PRNG key; epoch ``e`` uses ``fold_in(key, e)``.
        params: initial parameters.
        data: ``(num_examples, num_visible)``.
        optimizer: an optax transformation (e.g. ``optax.sgd(0.05, momentum=0.5)``).
        num_epochs, batch_size: passes over the data and minibatch size.
        num_gibbs_steps: ``k`` of CD-k / PCD-k.
        persistent: PCD instead of CD.
        num_chains: persistent chains (PCD only).
        learn_sigma: learn a Gaussian RBM's visible standard deviations.
        ladder: inverse temperatures ``(R,)`` ending at 1 for PT training (implies
            persistent chains; e.g. ``jnp.linspace(0.5, 1.0, 5)``).
        callback: ``callback(epoch, state, metrics)`` on the host after every epoch.

    Returns:
        The final :class:`RBMTrainState` and the per-epoch mean :class:`TrainMetrics`.

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> data = (jax.random.uniform(jax.random.key(0), (64, 6)) < 0.3).astype(jnp.float32)
        >>> state, history = train_rbm(jax.random.key(1), init_rbm(jax.random.key(2), 6, 4),
        ...                            data, optax.sgd(0.1), num_epochs=2, batch_size=16)
        >>> len(history)
        2
    """
    data = jnp.asarray(data, params.weights.dtype)
    if data.ndim != 2 or data.shape[1] != params.weights.shape[0]:
        raise ValueError(
            f"data must be (num_examples, {params.weights.shape[0]}), got shape {data.shape}."
        )
    if not 1 <= batch_size <= data.shape[0]:
        raise ValueError(f"batch_size must be in [1, {data.shape[0]}], got {batch_size}.")
    chains = None
    if persistent or ladder is not None:
        rows = jax.random.choice(
            jax.random.split(key)[1], data.shape[0], (num_chains or batch_size,)
        )
        chains = data[rows]
    state = init_training(params, optimizer, chains, ladder)
    history = []
    for epoch in range(num_epochs):
        state, metrics = _train_epoch(
            state, jax.random.fold_in(key, epoch), data, optimizer,
            num_gibbs_steps=num_gibbs_steps, learn_sigma=jnp.asarray(learn_sigma),
            batch_size=batch_size,
        )  # fmt: skip
        history.append(metrics)
        if callback is not None:
            callback(epoch, state, metrics)
    return state, history


# ------------------------------------------------------------------- evaluation


def _binary_configurations(first, chunk_size, num_units):
    index = first + jnp.arange(chunk_size, dtype=jnp.int32)
    bits = (index[:, None] >> jnp.arange(num_units, dtype=jnp.int32)) & 1
    return index, bits.astype(jnp.float32)


@partial(jax.jit, static_argnames=("layer", "num_units", "chunk_size", "num_chunks"))
def _enumerated_log_z(params, *, layer, num_units, chunk_size, num_chunks):
    total = 2**num_units

    def log_terms(configurations):
        if layer == "visible":
            return -free_energy(params, configurations)
        # Sum over h of exp(c.h) * prod_i [sum_{v_i} ...]: softplus for binary v,
        # a Gaussian integral for real v.
        activation = configurations @ params.weights.T  # (chunk, V): (W h)_i
        linear = configurations @ params.hidden_bias
        if _is_gaussian(params):
            sigma2 = jnp.exp(2.0 * params.log_sigma)
            return linear + jnp.sum(
                (activation**2 + 2.0 * params.visible_bias * activation) / (2.0 * sigma2), -1
            )
        return linear + jnp.sum(jax.nn.softplus(params.visible_bias + activation), -1)

    def body(log_z, first):
        index, configurations = _binary_configurations(first, chunk_size, num_units)
        terms = jnp.where(index < total, log_terms(configurations), -jnp.inf)
        return jnp.logaddexp(log_z, jax.nn.logsumexp(terms)), None

    firsts = jnp.arange(num_chunks, dtype=jnp.int32) * chunk_size
    log_z, _ = jax.lax.scan(body, jnp.asarray(-jnp.inf, params.weights.dtype), firsts)
    if _is_gaussian(params):
        num_visible = params.visible_bias.shape[0]
        log_z = log_z + 0.5 * num_visible * math.log(2 * math.pi) + jnp.sum(params.log_sigma)
    return log_z


def exact_log_z(params, *, chunk_size: int = 2**14) -> jax.Array:
    r"""``log Z`` exactly, by enumerating the smaller layer in chunks, in log space.

    Binary RBM, over ``h`` (if ``H <= V``): ``log Z = logsumexp_h [c^T h + sum_i
    softplus(b_i + (W h)_i)]``; over ``v``: ``logsumexp_v [-F(v)]``. Gaussian RBM
    (always over ``h``): ``log Z = (V/2) log 2 pi + sum_i log sigma_i + logsumexp_h
    [c^T h + sum_i ((W h)_i^2 + 2 b_i (W h)_i) / (2 sigma_i^2)]``. Cost ``2^min(V, H)``
    matrix-vector products; up to ``MAX_ENUMERATED_UNITS`` units.

    Example:
        >>> import jax.numpy as jnp
        >>> params = RBMParams(jnp.zeros((3, 2)), jnp.zeros(3), jnp.zeros(2))
        >>> print(round(float(exact_log_z(params)), 4))  # 5 log 2
        3.4657
    """
    num_visible, num_hidden = params.weights.shape
    layer = "hidden" if (num_hidden <= num_visible or _is_gaussian(params)) else "visible"
    num_units = num_hidden if layer == "hidden" else num_visible
    if num_units > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"exact log Z enumerates 2^{num_units} {layer} configurations; the limit is "
            f"{MAX_ENUMERATED_UNITS} units. Use ais_log_z for larger RBMs."
        )
    chunk_size = int(min(chunk_size, 2**num_units))
    return _enumerated_log_z(
        params, layer=layer, num_units=num_units, chunk_size=chunk_size,
        num_chunks=-(-(2**num_units) // chunk_size),
    )  # fmt: skip


def base_rate_visible_bias(data: jax.Array, eps: float = 1e-3) -> jax.Array:
    """``logit`` of the data's per-unit mean, clipped to ``[eps, 1 - eps]``: the base-rate ``b``."""
    mean = jnp.clip(jnp.mean(jnp.asarray(data, jnp.float32), 0), eps, 1.0 - eps)
    return jnp.log(mean) - jnp.log1p(-mean)


def ais_betas(scale: float = 1.0) -> np.ndarray:
    """Salakhutdinov & Murray's (2008) schedule: steps of 1e-3 to 0.5, 1e-4 to 0.9, 1e-5 to 1.

    That is 14,500 intermediate distributions; ``scale`` multiplies the number of
    steps in each piece (``scale = 0.1``: 1,450).

    Example:
        >>> ais_betas().shape
        (14501,)
    """
    pieces = [(0.0, 0.5, 500), (0.5, 0.9, 4000), (0.9, 1.0, 10000)]
    parts = [np.linspace(a, b, max(1, round(n * scale)) + 1)[:-1] for a, b, n in pieces]
    return np.concatenate(parts + [np.ones(1)])


@partial(jax.jit, static_argnames=("num_chains",))
def _ais_base_rate(params, base_bias, key, betas, *, num_chains):
    def log_unnormalised(visible, beta):
        # log p*_k(v) = (1 - beta_k) b_A^T v - F(v; beta_k theta_B): the base-rate RBM
        # has no weights, so its hidden units only contribute a constant.
        scaled = jax.tree_util.tree_map(lambda x: beta * x, params)
        return (1.0 - beta) * visible @ base_bias - free_energy(scaled, visible)

    key_init, key_path = jax.random.split(key)
    visible = _bernoulli(
        jax.random.uniform(key_init, (num_chains, base_bias.shape[0])), jax.nn.sigmoid(base_bias)
    )

    def body(carry, x):
        visible, log_weights = carry
        index, beta_prev, beta = x
        log_weights = (
            log_weights + log_unnormalised(visible, beta) - log_unnormalised(visible, beta_prev)
        )
        key_hidden, key_visible = jax.random.split(jax.random.fold_in(key_path, index))
        hidden = sample_hidden(params, key_hidden, visible, beta)
        logits = (1.0 - beta) * base_bias + beta * (params.visible_bias + hidden @ params.weights.T)
        visible = _bernoulli(_uniforms(key_visible, visible.shape), jax.nn.sigmoid(logits))
        return (visible, log_weights), None

    steps = (jnp.arange(1, betas.shape[0]), betas[:-1], betas[1:])
    (visible, log_weights), _ = jax.lax.scan(body, (visible, jnp.zeros(num_chains)), steps)
    return visible, log_weights


def ais_log_z(
    key: PRNGKey,
    params: RBMParams,
    base_visible_bias: jax.typing.ArrayLike | None = None,
    *,
    betas: jax.typing.ArrayLike | None = None,
    num_chains: int = 100,
) -> AISResult:
    r"""``log Z`` of a binary RBM by AIS from a base-rate RBM (Salakhutdinov & Murray 2008).

    The base RBM A has no weights and visible biases ``b_A`` (from the data's
    marginals, :func:`base_rate_visible_bias`; zeros by default), so
    ``log Z_A = sum_i softplus(b_A,i) + H log 2`` and it is sampled exactly. The path is

    .. math::

        p^*_k(v) = e^{(1 - \beta_k) b_A^\top v} \; e^{-F(v;\, \beta_k \theta_B)},

    with the hidden units of B summed out (the weights are Rao-Blackwellised); the
    transition at ``beta_k`` is block Gibbs: ``h ~ sigmoid(beta_k (c + W^T v))``,
    ``v ~ sigmoid((1 - beta_k) b_A + beta_k (b + W h))``. ``log w = sum_k [log
    p^*_k(v_{k-1}) - log p^*_{k-1}(v_{k-1})]`` and ``log Z_B = log Z_A + log mean w``.
    The estimate and its delta-method standard error come from
    :func:`statjax.thermo.ais_estimate`; ``mean w`` is unbiased for ``Z_B / Z_A``, so
    ``log Z`` is biased low by about half its variance (an underestimate of ``Z`` is
    what one should expect when the chains do not mix).

    Args:
        key: PRNG key.
        params: the binary RBM ``B``.
        base_visible_bias: ``b_A``, ``(num_visible,)``.
        betas: non-decreasing path from 0 to 1; default :func:`ais_betas` (14,500 steps).
        num_chains: independent AIS runs (S&M use 100).

    Returns:
        An :class:`statjax.thermo.AISResult`; ``final_states`` are the visible
        states ``(num_chains, num_visible)`` at the end of the path.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> params = init_rbm(jax.random.key(0), 8, 4, weight_scale=0.5)
        >>> result = ais_log_z(jax.random.key(1), params, betas=jnp.linspace(0, 1, 200))
        >>> bool(abs(result.log_z - exact_log_z(params)) < 0.1)
        True
    """
    if _is_gaussian(params):
        raise TypeError("ais_log_z handles binary RBMs; for a Gaussian RBM use exact_log_z.")
    num_visible = params.weights.shape[0]
    base = (
        jnp.zeros(num_visible)
        if base_visible_bias is None
        else jnp.asarray(base_visible_bias, jnp.float32)
    )
    if base.shape != (num_visible,):
        raise ValueError(f"base_visible_bias must have shape ({num_visible},), got {base.shape}.")
    betas = ais_betas() if betas is None else np.asarray(betas, np.float32)
    if betas.ndim != 1 or betas[0] != 0 or betas[-1] != 1 or np.any(np.diff(betas) < 0):
        raise ValueError("betas must be a non-decreasing path from 0 to 1.")
    visible, log_weights = _ais_base_rate(
        params, base, key, jnp.asarray(betas, jnp.float32), num_chains=int(num_chains)
    )
    # At beta = 0 the path is exp(b_A^T v) times 2^H from B's (free) hidden units.
    base_log_z = jnp.sum(jax.nn.softplus(base)) + params.weights.shape[1] * math.log(2.0)
    log_z, standard_error, ess = ais_estimate(log_weights, base_log_z)
    return AISResult(log_z, standard_error, ess, log_weights, visible)


def log_likelihood(params, data: jax.Array, log_z: jax.typing.ArrayLike | None = None) -> jax.Array:
    """Average log-likelihood ``mean_n [-F(v_n)] - log Z`` (nats per example).

    ``log_z`` defaults to :func:`exact_log_z`; pass an AIS estimate for large RBMs.
    (For a Gaussian RBM this is a log-density.)
    """
    if log_z is None:
        log_z = exact_log_z(params)
    return jnp.mean(-free_energy(params, data)) - log_z


def pseudo_log_likelihood(params: RBMParams, data: jax.Array) -> jax.Array:
    r"""Average pseudo-log-likelihood ``sum_i log p(v_i | v_{-i})`` of binary data (Besag 1975).

    ``log p(v_i | v_{-i}) = -softplus(F(v) - F(v^{(i)}))``, ``v^{(i)}`` with unit
    ``i`` flipped; all ``V`` flips are evaluated (scikit-learn's ``score_samples``
    flips one random unit and multiplies by ``V``, an unbiased but noisy version).
    """
    data = jnp.asarray(data, params.weights.dtype)
    flipped = jnp.abs(data[:, None, :] - jnp.eye(data.shape[-1], dtype=data.dtype))
    gap = free_energy(params, data)[:, None] - free_energy(params, flipped)
    return jnp.mean(jnp.sum(-jax.nn.softplus(gap), -1))


def reconstruction_error(params, data: jax.Array) -> jax.Array:
    """Mean squared reconstruction error per example, ``mean_n ||v_n - E[v | E[h | v_n]]||^2``.

    Mean-field (probabilities, not samples): deterministic, the number CD
    implementations usually print. It is not a likelihood: a poor RBM can
    reconstruct well (Hinton 2010).
    """
    reconstruction = visible_mean(params, hidden_probabilities(params, data))
    return jnp.mean(jnp.sum((data - reconstruction) ** 2, -1))


# ------------------------------------------------------------ deep belief networks


def train_dbn(
    key: PRNGKey,
    data: jax.Array,
    hidden_sizes: Sequence[int],
    optimizer: optax.GradientTransformation,
    *,
    weight_scale: float = 0.01,
    **train_kwargs,
) -> list[RBMParams]:
    """Greedy layer-wise training of a deep belief network (Hinton, Osindero & Teh 2006).

    Layer ``l`` is a binary RBM trained (:func:`train_rbm`, ``train_kwargs`` passed on)
    on the hidden probabilities ``p(h | v)`` of layer ``l - 1`` (the data for the
    first), its visible bias started at the base rate of its input. Each added
    layer improves a variational lower bound on ``log p(data)`` (Hinton et al. 2006).

    Returns:
        The layers' parameters, bottom first.

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> data = (jax.random.uniform(jax.random.key(0), (64, 8)) < 0.3).astype(jnp.float32)
        >>> layers = train_dbn(jax.random.key(1), data, [6, 4], optax.sgd(0.1),
        ...                    num_epochs=1, batch_size=16)
        >>> [p.weights.shape for p in layers]
        [(8, 6), (6, 4)]
    """
    layers = []
    inputs = jnp.asarray(data, jnp.float32)
    for depth, num_hidden in enumerate(hidden_sizes):
        key_init, key_train = jax.random.split(jax.random.fold_in(key, depth))
        params = init_rbm(
            key_init, inputs.shape[-1], num_hidden,
            weight_scale=weight_scale, visible_bias=base_rate_visible_bias(inputs),
        )  # fmt: skip
        state, _ = train_rbm(key_train, params, inputs, optimizer, **train_kwargs)
        layers.append(state.params)
        inputs = hidden_probabilities(state.params, inputs)
    return layers


def sample_dbn(
    key: PRNGKey, layers: Sequence[RBMParams], num_samples: int, *, num_gibbs_steps: int = 1000
) -> jax.Array:
    """Ancestral samples of a DBN: Gibbs in the top RBM, then one pass down ``p(v | h)``.

    The top two layers form an undirected RBM, sampled by ``num_gibbs_steps``
    block-Gibbs sweeps from random states; every lower layer is a directed
    sigmoid belief net, sampled top-down (Hinton, Osindero & Teh 2006). The bottom
    layer returns probabilities ``E[v | h_1]`` (the usual way to show samples).

    Returns:
        ``(num_samples, num_visible)`` visible means.
    """
    key_init, key_top, key_down = jax.random.split(key, 3)
    top = layers[-1]
    start = (jax.random.uniform(key_init, (num_samples, top.weights.shape[0])) < 0.5).astype(
        jnp.float32
    )
    hidden = _gibbs_chain(top, key_top, start, num_gibbs_steps)
    if len(layers) == 1:
        return visible_mean(top, sample_hidden(top, key_down, hidden))
    for depth, params in enumerate(reversed(layers[1:-1])):
        hidden = sample_visible(params, jax.random.fold_in(key_down, depth), hidden)
    return visible_mean(layers[0], hidden)


__all__ = [
    "MAX_ENUMERATED_UNITS",
    "RBM",
    "BlockGibbs",
    "BlockGibbsState",
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
    "gibbs_sweep",
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
