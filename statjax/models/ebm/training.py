r"""Training loops of a deep EBM: state, one update, many updates in one compiled scan.

**Contrastive divergence with short-run chains and a replay buffer** (Du &
Mordatch 2019, "Implicit generation and generalization in energy-based
models"): negatives come from a few sampler steps started, per slot, from a
persistent buffer or, with probability ``reinit_prob`` (about 5 %), from fresh
uniform noise; the loss is :func:`~statjax.models.ebm.objectives.contrastive_divergence_loss`.
The sampler is any statjax kernel (:func:`statjax.samplers.du_mordatch_langevin`,
:func:`statjax.ula`, :func:`statjax.mala`, :func:`statjax.hmc`), run by
:func:`~statjax.models.ebm.chains.short_run_chains` through the one driver.
**Denoising score matching** (Vincent 2011) needs no sampling.

Update ``t`` draws every number from ``fold_in(key, t)`` (the chains then follow
the driver's rule, ``fold_in`` of their own step), so a resumed run repeats an
uninterrupted one. Optimizers: a :func:`statjax.optim.tunable` optimizer is a
traced argument of the compiled loop (a sweep over learning rates compiles
once); a plain optax ``GradientTransformation`` is a static one (a newly built
one recompiles: build it once, or use ``tunable``).
"""

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.tree_util import Partial

from statjax._tree import as_pytree_fn
from statjax.checks import as_key, check_count, check_positive
from statjax.models.ebm.chains import Sampler, short_run_chains
from statjax.models.ebm.objectives import (
    contrastive_divergence_loss,
    denoising_score_matching_loss,
)
from statjax.models.ebm.replay import sample_replay_buffer
from statjax.optim.hyperparameters import split_optimizer
from statjax.pytree import structure_key
from statjax.types import ArrayTree, PRNGKey

_BUFFER_KEY = 2**32 - 1  # fold_in data of the buffer's initial noise: no update reaches it

Optimizer = Any
"""An optax ``GradientTransformation`` (static) or a :func:`statjax.optim.tunable` one (traced)."""


class EBMTrainState(NamedTuple):
    """Everything a training run carries from one update to the next.

    Attributes:
        params: the energy network's parameters.
        opt_state: the optax optimizer's state.
        buffer: the replay buffer ``(buffer_size, *event_shape)`` (contrastive
            divergence), or an empty ``(0,)`` array (score matching).
        key: the run's PRNG key; update ``t`` uses ``fold_in(key, t)``.
        step: number of updates done, an int32 scalar.
    """

    params: ArrayTree
    opt_state: optax.OptState
    buffer: jax.Array
    key: PRNGKey
    step: jax.Array


class ContrastiveDivergenceSettings(NamedTuple):
    """Numbers of a contrastive-divergence update; all traced (a sweep never recompiles).

    Defaults follow Du & Mordatch (2019) and the UvA tutorial.

    Attributes:
        num_sampling_steps: kernel steps per update (60 in the tutorial).
        reinit_prob: probability that a negative chain starts from fresh noise
            instead of a buffer entry (0.05).
        regularization: ``alpha`` of the penalty ``alpha (E(x+)^2 + E(x-)^2)`` (0.1).
        noise_low, noise_high: fresh noise is uniform on ``[noise_low, noise_high]``
            in every coordinate.
        data_noise: standard deviation of Gaussian noise added to the data batch
            (the tutorial's 0.005 on images; 0 for none).
        beta: inverse temperature of the sampler (1 for the model's own law).
    """

    num_sampling_steps: jax.typing.ArrayLike = 60
    reinit_prob: jax.typing.ArrayLike = 0.05
    regularization: jax.typing.ArrayLike = 0.1
    noise_low: jax.typing.ArrayLike = -1.0
    noise_high: jax.typing.ArrayLike = 1.0
    data_noise: jax.typing.ArrayLike = 0.0
    beta: jax.typing.ArrayLike = 1.0


class TrainMetrics(NamedTuple):
    """Per-update numbers (stacked over updates by the training loops).

    Attributes:
        loss: the objective that was differentiated.
        energy_data: mean energy of the data batch.
        energy_samples: mean energy of the negatives (``nan`` for score matching).
        acceptance_rate: the sampler's mean acceptance (``nan`` for score matching).
    """

    loss: jax.Array
    energy_data: jax.Array
    energy_samples: jax.Array
    acceptance_rate: jax.Array


def init_training(
    key: PRNGKey,
    params: ArrayTree,
    optimizer: Optimizer,
    *,
    buffer_size: int = 0,
    event_shape: Sequence[int] = (),
    noise_low: float = -1.0,
    noise_high: float = 1.0,
) -> EBMTrainState:
    """A fresh :class:`EBMTrainState`; the replay buffer starts as uniform noise.

    Args:
        key: PRNG key of the run (the buffer's noise uses ``fold_in(key, 2^32 - 1)``).
        params: initial network parameters.
        optimizer: an optax transformation or a :func:`statjax.optim.tunable` one;
            Du & Mordatch use ``optax.adam(1e-4, b1=0.0, b2=0.999)``, i.e.
            ``statjax.optim.tunable(optax.adam, learning_rate=1e-4, b1=0.0, b2=0.999)``.
        buffer_size: replay-buffer entries (0 for score matching).
        event_shape: shape of one data point, e.g. ``(2,)`` or ``(8, 8, 1)``.
        noise_low: lower bound of the buffer's uniform noise.
        noise_high: upper bound of the buffer's uniform noise.

    Examples:
        >>> import jax, jax.numpy as jnp, optax
        >>> state = init_training(jax.random.key(0), {"w": jnp.zeros(2)}, optax.adam(1e-3),
        ...                       buffer_size=100, event_shape=(2,))
        >>> state.buffer.shape
        (100, 2)
    """
    key = as_key(key)
    buffer_size = check_count("buffer_size", buffer_size, minimum=0)
    if not noise_low < noise_high:
        raise ValueError(f"need noise_low < noise_high, got {noise_low} and {noise_high}.")
    if buffer_size:
        buffer = jax.random.uniform(
            jax.random.fold_in(key, _BUFFER_KEY), (buffer_size, *event_shape), minval=noise_low,
            maxval=noise_high,
        )  # fmt: skip
    else:
        buffer = jnp.zeros((0,))
    return EBMTrainState(params, optimizer.init(params), buffer, key, jnp.zeros((), jnp.int32))


def _step_keys(state: EBMTrainState) -> jax.Array:
    """Keys of update ``state.step``: (minibatch, buffer, chains, data noise)."""
    return jax.random.split(jax.random.fold_in(state.key, state.step), 4)


def contrastive_divergence_step(
    state: EBMTrainState,
    data_batch: jax.Array,
    *,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    sampler: Sampler,
    optimizer: Optimizer,
    settings: ContrastiveDivergenceSettings | None = None,
) -> tuple[EBMTrainState, TrainMetrics]:
    """One update of contrastive divergence with a replay buffer (Du & Mordatch 2019).

    1. draw ``len(data_batch)`` starting points with :func:`sample_replay_buffer`;
    2. run ``settings.num_sampling_steps`` steps of ``sampler(energy_fn.bind(params))``
       on them at ``settings.beta`` (:func:`short_run_chains`, the driver's key rule
       from this update's chain key);
    3. take one optimizer step on :func:`contrastive_divergence_loss`;
    4. write the chains' end points into the buffer, first in first out (the
       oldest entries are overwritten, as in Du & Mordatch's buffer).

    Pure and jittable: use it inside your own ``jit``/``scan``, or call
    :func:`train_contrastive_divergence`. Update ``t`` draws its numbers from
    ``fold_in(state.key, t)``, so a resumed run repeats an uninterrupted one.

    Args:
        state: the current :class:`EBMTrainState` (with a buffer at least as
            large as the batch).
        data_batch: positive examples ``(batch_size, *event_shape)``.
        energy_fn: ``energy(params, x)`` (e.g. from :func:`energy_function`).
        sampler: ``energy -> kernel`` (see :data:`Sampler`).
        optimizer: the optimizer the state was built with (optax or
            :func:`statjax.optim.tunable`).
        settings: :class:`ContrastiveDivergenceSettings` (``None``: the defaults).

    Returns:
        The new state and this update's :class:`TrainMetrics`.

    Examples:
        >>> import jax, jax.numpy as jnp, optax, statjax
        >>> from jax.tree_util import Partial
        >>> energy = lambda precision, x: 0.5 * precision * jnp.sum(x**2, -1)  # or a network
        >>> optimizer = optax.adam(1e-3, b1=0.0)
        >>> state = init_training(jax.random.key(1), jnp.array(1.0), optimizer, buffer_size=64,
        ...                       event_shape=(2,))
        >>> sampler = Partial(statjax.samplers.du_mordatch_langevin, step_size=0.1,
        ...                   noise_scale=0.01)
        >>> def update(state, batch):  # jit it, or scan it, in a training loop
        ...     return contrastive_divergence_step(
        ...         state, batch, energy_fn=energy, sampler=sampler, optimizer=optimizer,
        ...         settings=ContrastiveDivergenceSettings(num_sampling_steps=5))
        >>> new_state, metrics = jax.eval_shape(update, state, jnp.ones((16, 2)))  # shapes only
        >>> new_state.buffer.shape, metrics.loss.shape
        ((64, 2), ())
    """
    settings = ContrastiveDivergenceSettings() if settings is None else settings
    batch_size = data_batch.shape[0]
    _, key_buffer, key_chains, key_noise = _step_keys(state)
    starts, _ = sample_replay_buffer(
        key_buffer, state.buffer, batch_size, settings.reinit_prob, settings.noise_low,
        settings.noise_high,
    )  # fmt: skip
    kernel = sampler(Partial(energy_fn, state.params))
    final, acceptance = short_run_chains(
        kernel, key_chains, starts, settings.num_sampling_steps, beta=settings.beta
    )
    negatives = jax.lax.stop_gradient(final.position)
    noise = jax.random.normal(key_noise, data_batch.shape, data_batch.dtype)
    data = data_batch + settings.data_noise * noise
    (loss, (energy_data, energy_samples)), grads = jax.value_and_grad(
        contrastive_divergence_loss, has_aux=True
    )(state.params, energy_fn, data, negatives, settings.regularization)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    slots = (state.step * batch_size + jnp.arange(batch_size)) % state.buffer.shape[0]
    buffer = state.buffer.at[slots].set(negatives.astype(state.buffer.dtype))
    new_state = EBMTrainState(params, opt_state, buffer, state.key, state.step + 1)
    return new_state, TrainMetrics(loss, energy_data, energy_samples, acceptance)


def score_matching_step(
    state: EBMTrainState,
    data_batch: jax.Array,
    *,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    optimizer: Optimizer,
    noise_scale: jax.typing.ArrayLike,
) -> tuple[EBMTrainState, TrainMetrics]:
    """One optimizer step on :func:`denoising_score_matching_loss` (no sampling).

    Args:
        state: the current :class:`EBMTrainState` (its buffer is unused).
        data_batch: ``(batch_size, *event_shape)``.
        energy_fn: ``energy(params, x)``.
        optimizer: the optimizer the state was built with (optax or
            :func:`statjax.optim.tunable`).
        noise_scale: ``sigma > 0`` (may be traced).

    Returns:
        The new state and this update's :class:`TrainMetrics` (sampler fields ``nan``).

    Examples:
        >>> import jax, jax.numpy as jnp, optax
        >>> energy = lambda precision, x: 0.5 * precision * jnp.sum(x**2, -1)  # or a network
        >>> state = init_training(jax.random.key(1), jnp.array(1.0), optax.adam(1e-3))
        >>> def update(state, batch):  # jit it, or scan it, in a training loop
        ...     return score_matching_step(state, batch, energy_fn=energy,
        ...                                optimizer=optax.adam(1e-3), noise_scale=0.1)
        >>> new_state, metrics = jax.eval_shape(update, state, jnp.ones((16, 2)))  # shapes only
        >>> metrics.loss.shape
        ()
    """
    key_noise = _step_keys(state)[3]
    (loss, energy_data), grads = jax.value_and_grad(denoising_score_matching_loss, has_aux=True)(
        state.params, energy_fn, key_noise, data_batch, noise_scale
    )
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    nan = jnp.full((), jnp.nan, loss.dtype)
    new_state = state._replace(params=params, opt_state=opt_state, step=state.step + 1)
    return new_state, TrainMetrics(loss, energy_data, nan, nan)


def _minibatch(state: EBMTrainState, data: jax.Array, batch_size: int) -> jax.Array:
    """Update ``state.step``'s minibatch: ``batch_size`` rows drawn with replacement."""
    indices = jax.random.randint(_step_keys(state)[0], (batch_size,), 0, data.shape[0])
    return data[indices]


_STATIC = ("energy_fn", "static_optimizer", "num_steps", "batch_size", "structure")


@partial(jax.jit, static_argnames=_STATIC)
def _train_cd(
    state, data, sampler, settings, traced_optimizer, *, energy_fn, static_optimizer, num_steps,
    batch_size, structure,
):  # fmt: skip
    del structure  # a cache key only (see statjax.pytree.structure_key)
    optimizer = static_optimizer if traced_optimizer is None else traced_optimizer

    def body(state, _):
        batch = _minibatch(state, data, batch_size)
        return contrastive_divergence_step(
            state, batch, energy_fn=energy_fn, sampler=sampler, optimizer=optimizer,
            settings=settings,
        )  # fmt: skip

    return jax.lax.scan(body, state, length=num_steps)


@partial(jax.jit, static_argnames=_STATIC)
def _train_dsm(
    state, data, noise_scale, traced_optimizer, *, energy_fn, static_optimizer, num_steps,
    batch_size, structure,
):  # fmt: skip
    del structure  # a cache key only (see statjax.pytree.structure_key)
    optimizer = static_optimizer if traced_optimizer is None else traced_optimizer

    def body(state, _):
        batch = _minibatch(state, data, batch_size)
        return score_matching_step(
            state, batch, energy_fn=energy_fn, optimizer=optimizer, noise_scale=noise_scale
        )

    return jax.lax.scan(body, state, length=num_steps)


def _check_training(state, data, num_steps, batch_size, *, needs_buffer: bool) -> jax.Array:
    data = jnp.asarray(data)
    check_count("num_steps", num_steps)
    check_count("batch_size", batch_size)
    if data.ndim < 1 or data.shape[0] < 1:
        raise ValueError(f"data must be (num_examples, *event_shape), got shape {data.shape}.")
    if needs_buffer:
        if state.buffer.shape[1:] != data.shape[1:]:
            raise ValueError(
                f"the replay buffer holds points of shape {state.buffer.shape[1:]} but data has "
                f"shape {data.shape[1:]}; build the state with event_shape={data.shape[1:]}."
            )
        if state.buffer.shape[0] < batch_size:
            raise ValueError(
                f"batch_size={batch_size} exceeds the replay buffer's {state.buffer.shape[0]} "
                "entries; use a larger buffer_size in init_training."
            )
    return data


def train_contrastive_divergence(
    state: EBMTrainState,
    data: jax.typing.ArrayLike,
    *,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    sampler: Sampler,
    optimizer: Optimizer,
    num_steps: int,
    batch_size: int,
    settings: ContrastiveDivergenceSettings | None = None,
) -> tuple[EBMTrainState, TrainMetrics]:
    """``num_steps`` :func:`contrastive_divergence_step` updates in one jitted ``lax.scan``.

    Minibatches are ``batch_size`` rows of ``data`` drawn with replacement from
    ``fold_in(state.key, t)``; ``settings``, the sampler's numbers and a
    :func:`statjax.optim.tunable` optimizer's hyperparameters are traced (a sweep
    over them compiles once), while ``energy_fn``, ``num_steps``, ``batch_size``
    and a plain optax optimizer are static (a newly built optax optimizer
    recompiles: build it once, or use ``tunable``). ``N`` steps equal two calls
    of ``N / 2``.

    Returns:
        The final state and the :class:`TrainMetrics` of every update (leading
        axis ``num_steps``).

    Examples:
        >>> import jax, jax.numpy as jnp, optax, statjax
        >>> from jax.tree_util import Partial
        >>> def energy(precision, x):  # or energy_function(EnergyMLP())
        ...     return 0.5 * precision * jnp.sum(x**2, -1)
        >>> optimizer = statjax.optim.tunable(optax.adam, learning_rate=1e-3, b1=0.0)
        >>> state = init_training(jax.random.key(1), jnp.array(1.0), optimizer, buffer_size=64,
        ...                       event_shape=(2,))
        >>> state, metrics = train_contrastive_divergence(
        ...     state, jnp.ones((100, 2)), energy_fn=energy, optimizer=optimizer,
        ...     sampler=Partial(statjax.mala, step_size=0.05), num_steps=3, batch_size=16,
        ...     settings=ContrastiveDivergenceSettings(num_sampling_steps=5))
        >>> metrics.loss.shape
        (3,)
    """
    data = _check_training(state, data, num_steps, batch_size, needs_buffer=True)
    settings = ContrastiveDivergenceSettings() if settings is None else settings
    settings = ContrastiveDivergenceSettings(*(jnp.asarray(value) for value in settings))
    sampler = as_pytree_fn(sampler)
    traced_optimizer, static_optimizer = split_optimizer(optimizer)
    return _train_cd(
        state, data, sampler, settings, traced_optimizer, energy_fn=energy_fn,
        static_optimizer=static_optimizer, num_steps=int(num_steps), batch_size=int(batch_size),
        structure=structure_key((state, sampler, traced_optimizer)),
    )  # fmt: skip


def train_score_matching(
    state: EBMTrainState,
    data: jax.typing.ArrayLike,
    *,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    optimizer: Optimizer,
    num_steps: int,
    batch_size: int,
    noise_scale: jax.typing.ArrayLike,
) -> tuple[EBMTrainState, TrainMetrics]:
    """``num_steps`` :func:`score_matching_step` updates in one jitted ``lax.scan``.

    Minibatches and optimizers as in :func:`train_contrastive_divergence`;
    ``noise_scale`` is traced.

    Examples:
        >>> import jax, jax.numpy as jnp, optax
        >>> def energy(precision, x):  # or energy_function(EnergyMLP())
        ...     return 0.5 * precision * jnp.sum(x**2, -1)
        >>> optimizer = optax.adam(1e-3)
        >>> state = init_training(jax.random.key(1), jnp.array(1.0), optimizer)
        >>> state, metrics = train_score_matching(
        ...     state, jnp.ones((100, 2)), energy_fn=energy, optimizer=optimizer, num_steps=3,
        ...     batch_size=16, noise_scale=0.1)
        >>> metrics.loss.shape
        (3,)
    """
    data = _check_training(state, data, num_steps, batch_size, needs_buffer=False)
    check_positive("noise_scale", noise_scale)
    traced_optimizer, static_optimizer = split_optimizer(optimizer)
    return _train_dsm(
        state, data, jnp.asarray(noise_scale, data.dtype), traced_optimizer, energy_fn=energy_fn,
        static_optimizer=static_optimizer, num_steps=int(num_steps), batch_size=int(batch_size),
        structure=structure_key((state, traced_optimizer)),
    )  # fmt: skip


__all__ = [
    "ContrastiveDivergenceSettings",
    "EBMTrainState",
    "Optimizer",
    "TrainMetrics",
    "contrastive_divergence_step",
    "init_training",
    "score_matching_step",
    "train_contrastive_divergence",
    "train_score_matching",
]
