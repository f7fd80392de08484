r"""Training an RBM by CD-k, PCD-k and parallel-tempering PCD, with any optax optimizer.

The gradient of the average negative log-likelihood is
``grad [mean F(data) - mean F(negatives)]`` (:func:`contrastive_loss`), the
negatives coming from ``k`` block-Gibbs sweeps started at the batch (CD-k,
Hinton 2002), from persistent chains (PCD, Tieleman 2008) or from the ``beta = 1``
replicas of persistent parallel-tempering runs (Desjardins et al. 2010; Cho,
Raiko & Ilin 2010).

**One driver, one key rule.** Every chain advances through
:func:`statjax.samplers.loop.sample_chains` (block Gibbs, or replica exchange
with block Gibbs inside), and the randomness of update ``t`` is a function of
``t``: its Gibbs sweeps are the driver's global steps ``t k, ..., t k + k - 1``
(``k = num_gibbs_steps``), so chain ``c`` at sweep ``s`` draws from
``split(fold_in(key, s), num_chains)[c]``; the minibatches of epoch ``e`` are a
permutation drawn from ``fold_in(data_key, e)``. A run resumed from a saved
:class:`RBMTrainState` is bit-identical to the uninterrupted one.

**Optimizers.** A :func:`statjax.optim.tunable` optimizer is a traced argument:
a sweep over learning rates compiles once. A plain optax
``GradientTransformation`` is a static argument: each newly built one compiles
anew (build it once, outside the loop).
"""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
import optax

from statjax.checks import as_key, check_count
from statjax.models.rbm.energies import energy, free_energy
from statjax.models.rbm.evaluation import reconstruction_error
from statjax.models.rbm.params import GaussianRBMParams, RBMParams, is_gaussian
from statjax.models.rbm.sampling import block_gibbs
from statjax.optim.hyperparameters import TunableOptimizer, split_optimizer
from statjax.pytree import guarded_jit
from statjax.samplers.loop import init_chains, sample_chains
from statjax.samplers.tempering import (
    ReplicaExchangeState,
    replica_exchange,
    state_at_temperature,
)
from statjax.types import PRNGKey

Optimizer: TypeAlias = optax.GradientTransformation | TunableOptimizer
"""An optax transformation (static under ``jit``) or a tunable one (traced)."""


class RBMTrainState(NamedTuple):
    """What training carries from step to step.

    Attributes:
        params: the RBM parameters.
        opt_state: the optax state.
        chains: the persistent visible chains ``(num_chains, num_visible)`` of PCD,
            ``None`` for CD-k, or for PT training the persistent
            :class:`~statjax.samplers.tempering.ReplicaExchangeState` of every chain.
        step: number of updates taken (the global update index of the next one).
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
    params: RBMParams | GaussianRBMParams,
    optimizer: Optimizer,
    chains: jax.Array | None = None,
    ladder: jax.typing.ArrayLike | None = None,
) -> RBMTrainState:
    """Training state for CD-k, PCD-k or PT-k.

    CD-k: ``chains=None``. PCD: ``chains`` the initial persistent visible states,
    ``(num_chains, num_visible)`` (e.g. a random batch of data). PT training:
    ``chains`` and a ``ladder`` of inverse temperatures ending at 1; every replica
    of a chain starts at that chain's visible state.

    Examples:
        >>> import jax, optax
        >>> from statjax.models.rbm import init_rbm
        >>> state = init_training(init_rbm(jax.random.key(0), 6, 4), optax.sgd(0.1))
        >>> int(state.step), state.chains is None
        (0, True)
    """
    persistent: jax.Array | ReplicaExchangeState | None = None
    if chains is not None:
        chains = persistent = jnp.asarray(chains, params.weights.dtype)
    if ladder is not None:
        if chains is None:
            raise ValueError("PT training (a `ladder`) needs initial `chains`.")
        if np.asarray(ladder)[-1] != 1.0:
            raise ValueError(f"a PT training ladder must end at beta = 1, got {ladder}.")
        ladder = jnp.asarray(ladder, params.weights.dtype)
        kernel = replica_exchange(block_gibbs(params), ladder)
        replicas = jnp.repeat(chains[:, None, :], ladder.shape[0], axis=1)
        persistent = jax.vmap(kernel.init)(replicas)
    # Strong dtypes everywhere: a weakly typed leaf (from a Python float) would
    # change type after the first update and make the jitted epoch compile twice.
    params = jax.tree_util.tree_map(_strong, params)
    opt_state = jax.tree_util.tree_map(_strong, optimizer.init(params))
    return RBMTrainState(params, opt_state, persistent, jnp.zeros((), jnp.int32), ladder)


def _strong(x):
    return jax.lax.convert_element_type(x, jnp.result_type(x)) if isinstance(x, jax.Array) else x


def contrastive_loss(
    params: RBMParams | GaussianRBMParams, data: jax.Array, negatives: jax.Array
) -> jax.Array:
    r"""``mean F(data) - mean F(negatives)``, whose gradient estimates ``-grad mean log p(data)``.

    ``grad log p(v) = -grad F(v) + E_model[grad F]``: the model expectation is
    replaced by negatives from a short Gibbs chain (CD-k, Hinton 2002) or from
    persistent chains (PCD, Tieleman 2008). ``negatives`` are held fixed
    (``stop_gradient``).
    """
    negatives = jax.lax.stop_gradient(negatives)
    return jnp.mean(free_energy(params, data)) - jnp.mean(free_energy(params, negatives))


def _tempered_chains(params, key, chains, ladder, num_rounds, start_step):
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
    chains, _ = sample_chains(kernel, key, chains, num_rounds, start_step=start_step)
    return chains


def _update(state, key, batch, optimizer, learn_sigma, num_gibbs_steps):
    """One update (pure; see :func:`training_step`)."""
    params = state.params
    # Update t's sweeps are the driver's global steps t k, ..., t k + k - 1.
    start_step = state.step * num_gibbs_steps
    if state.ladder is not None:
        chains = _tempered_chains(
            params, key, state.chains, state.ladder, num_gibbs_steps, start_step
        )
        negatives = jax.vmap(state_at_temperature)(chains).position.visible
    else:
        kernel = block_gibbs(params)
        start = batch if state.chains is None else state.chains
        final, _ = sample_chains(
            kernel, key, init_chains(kernel, start), num_gibbs_steps, start_step=start_step
        )
        negatives = final.position.visible
        chains = None if state.chains is None else negatives
    gap, grads = jax.value_and_grad(contrastive_loss)(params, batch, negatives)
    updates, opt_state = optimizer.update(grads, state.opt_state, params)
    if is_gaussian(params):
        # A traced switch, so that fixed and learned variances share one compilation.
        updates = updates._replace(log_sigma=jnp.where(learn_sigma, updates.log_sigma, 0.0))
    params = optax.apply_updates(params, updates)
    error = reconstruction_error(params, batch)
    new_state = RBMTrainState(params, opt_state, chains, state.step + 1, state.ladder)
    return new_state, TrainMetrics(gap, error)


@partial(guarded_jit, static_argnames=("static_optimizer", "num_gibbs_steps"))
def _training_step(state, key, batch, optimizer, learn_sigma, *, static_optimizer, num_gibbs_steps):
    optimizer = static_optimizer if optimizer is None else optimizer
    return _update(state, key, batch, optimizer, learn_sigma, num_gibbs_steps)


def training_step(
    state: RBMTrainState,
    key: PRNGKey,
    batch: jax.Array,
    optimizer: Optimizer,
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
    Raiko & Ilin 2010). The update is ``optimizer`` applied to
    ``grad contrastive_loss`` (so momentum, weight decay, schedules come from
    optax). ``learn_sigma=False`` keeps a Gaussian RBM's ``log_sigma`` fixed (its
    update is zeroed after the optimizer).

    ``key`` is the training run's key, the same at every update: the sweeps of
    update ``t = state.step`` are the global steps ``t k .. t k + k - 1`` of
    :func:`statjax.samplers.loop.sample_chains` with that key, so the update is a
    function of ``(key, state, batch)`` and a resumed run repeats the
    uninterrupted one. A :func:`statjax.optim.tunable` optimizer is traced (new
    numbers never recompile); a plain optax one is static (build it once).

    Examples:
        >>> import jax, jax.numpy as jnp, optax
        >>> from statjax.models.rbm import init_rbm
        >>> data = (jax.random.uniform(jax.random.key(0), (32, 6)) < 0.3).astype(jnp.float32)
        >>> optimizer = optax.sgd(0.1)
        >>> state = init_training(init_rbm(jax.random.key(1), 6, 4), optimizer)
        >>> state, metrics = training_step(state, jax.random.key(2), data, optimizer)
        >>> int(state.step)
        1
    """
    traced, static = split_optimizer(optimizer)
    return _training_step(
        state, as_key(key), jnp.asarray(batch, state.params.weights.dtype), traced,
        jnp.asarray(learn_sigma), static_optimizer=static,
        num_gibbs_steps=check_count("num_gibbs_steps", num_gibbs_steps),
    )  # fmt: skip


# The compiled programs of training_step, for compile counts in tests.
training_step._cache_size = _training_step.jitted._cache_size  # type: ignore[attr-defined]


@partial(guarded_jit, static_argnames=("static_optimizer", "num_gibbs_steps", "batch_size"))
def _train_epoch(
    state, data_key, gibbs_key, data, optimizer, learn_sigma, *,
    static_optimizer, num_gibbs_steps, batch_size,
):  # fmt: skip
    """One pass over ``data`` from an epoch boundary: epoch ``state.step // num_batches``."""
    optimizer = static_optimizer if optimizer is None else optimizer
    num_batches = data.shape[0] // batch_size
    epoch = state.step // num_batches
    order = jax.random.permutation(jax.random.fold_in(data_key, epoch), data.shape[0])
    batches = data[order[: num_batches * batch_size]].reshape(num_batches, batch_size, -1)

    def body(state, batch):
        return _update(state, gibbs_key, batch, optimizer, learn_sigma, num_gibbs_steps)

    state, metrics = jax.lax.scan(body, state, batches)
    return state, jax.tree_util.tree_map(jnp.mean, metrics)


def _check_resumed(state: RBMTrainState, persistent, num_chains, ladder, num_batches) -> None:
    if int(state.step) % num_batches:
        raise ValueError(
            f"train_rbm resumes at an epoch boundary: state.step = {int(state.step)} is not a "
            f"multiple of the {num_batches} updates per epoch; continue a mid-epoch state "
            "with training_step."
        )
    if state.chains is None and (persistent or ladder is not None or num_chains is not None):
        raise ValueError("the state trains by CD-k (no chains): drop persistent/num_chains/ladder.")
    if ladder is not None and (
        state.ladder is None
        or np.shape(ladder) != state.ladder.shape
        or not np.allclose(np.asarray(ladder), np.asarray(state.ladder))
    ):
        raise ValueError(f"ladder {ladder} differs from the state's ladder {state.ladder}.")
    if num_chains is not None:
        have = jax.tree_util.tree_leaves(state.chains)[0].shape[0]
        if have != num_chains:
            raise ValueError(f"num_chains={num_chains}, but the state has {have} chains.")


def train_rbm(
    key: PRNGKey,
    params: RBMParams | GaussianRBMParams | RBMTrainState,
    data: jax.Array,
    optimizer: Optimizer,
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

    Keys: ``key`` is split once into three streams: the persistent chains' start,
    the minibatch order (epoch ``e``: a permutation from ``fold_in(key, e)``) and
    the Gibbs sweeps (update ``t``: the driver's global steps ``t k .. t k + k - 1``,
    see :func:`training_step`). Passing an :class:`RBMTrainState` (from a
    ``callback`` or an earlier call) as ``params`` continues that run at its
    update ``state.step`` (an epoch boundary) with the same ``key``: the result is
    bit-identical to one uninterrupted run.

    Args:
        key: PRNG key of the run.
        params: initial parameters, or an :class:`RBMTrainState` to continue (its
            chains and ladder are used; ``persistent``, ``num_chains`` and
            ``ladder`` must then agree with it or be left out).
        data: ``(num_examples, num_visible)``.
        optimizer: an optax transformation (e.g. ``optax.sgd(0.05, momentum=0.5)``),
            static: a newly built one compiles anew; or a
            :func:`statjax.optim.tunable` one, traced: new numbers reuse the program.
        num_epochs: passes over the data (more passes, for a resumed state).
        batch_size: minibatch size.
        num_gibbs_steps: ``k`` of CD-k / PCD-k.
        persistent: PCD instead of CD.
        num_chains: persistent chains (PCD only).
        learn_sigma: learn a Gaussian RBM's visible standard deviations.
        ladder: inverse temperatures ``(R,)`` ending at 1 for PT training (implies
            persistent chains; e.g. ``jnp.linspace(0.5, 1.0, 5)``).
        callback: ``callback(epoch, state, metrics)`` on the host after every epoch
            (``epoch`` counts from the start of the run, resumed or not).

    Returns:
        The final :class:`RBMTrainState` and the per-epoch mean :class:`TrainMetrics`.

    Examples:
        >>> import jax, jax.numpy as jnp, optax, statjax
        >>> from statjax.models.rbm import init_rbm
        >>> data = (jax.random.uniform(jax.random.key(0), (64, 6)) < 0.3).astype(jnp.float32)
        >>> optimizer = statjax.optim.tunable(optax.sgd, learning_rate=0.1)
        >>> state, history = train_rbm(jax.random.key(1), init_rbm(jax.random.key(2), 6, 4),
        ...                            data, optimizer, num_epochs=2, batch_size=16)
        >>> len(history), int(state.step)
        (2, 8)
    """
    key = as_key(key)
    if isinstance(params, RBMTrainState):
        resumed, model = params, params.params
    else:
        resumed, model = None, params
    data = jnp.asarray(data, model.weights.dtype)
    if data.ndim != 2 or data.shape[1] != model.weights.shape[0]:
        raise ValueError(
            f"data must be (num_examples, {model.weights.shape[0]}), got shape {data.shape}."
        )
    num_epochs = check_count("num_epochs", num_epochs, minimum=0)
    batch_size = check_count("batch_size", batch_size)
    if batch_size > data.shape[0]:
        raise ValueError(f"batch_size must be in [1, {data.shape[0]}], got {batch_size}.")
    num_gibbs_steps = check_count("num_gibbs_steps", num_gibbs_steps)
    if num_chains is not None:
        num_chains = check_count("num_chains", num_chains)
    num_batches = data.shape[0] // batch_size
    # Three streams, split once: chain starts, minibatch order, Gibbs sweeps.
    key_chains, key_data, key_gibbs = jax.random.split(key, 3)
    if resumed is not None:
        _check_resumed(resumed, persistent, num_chains, ladder, num_batches)
        state = resumed
    else:
        chains = None
        if persistent or ladder is not None:
            rows = jax.random.choice(key_chains, data.shape[0], (num_chains or batch_size,))
            chains = data[rows]
        state = init_training(model, optimizer, chains, ladder)
    traced, static = split_optimizer(optimizer)
    first_epoch = int(state.step) // num_batches
    history = []
    for epoch in range(first_epoch, first_epoch + num_epochs):
        state, metrics = _train_epoch(
            state, key_data, key_gibbs, data, traced, jnp.asarray(learn_sigma),
            static_optimizer=static, num_gibbs_steps=num_gibbs_steps, batch_size=batch_size,
        )  # fmt: skip
        history.append(metrics)
        if callback is not None:
            callback(epoch, state, metrics)
    return state, history


__all__ = [
    "Optimizer",
    "RBMTrainState",
    "TrainMetrics",
    "contrastive_loss",
    "init_training",
    "train_rbm",
    "training_step",
]
