r"""Joint energy-based models: a classifier read as an energy (Grathwohl et al. 2020).

"Your classifier is secretly an energy based model and you should treat it like
one" (Grathwohl, Wang, Jacobsen, Duvenaud, Norouzi & Swersky 2020): the logits
``f(x)`` of a classifier define

.. math::

    p(x, y) = \frac{e^{f(x)_y}}{Z}, \qquad
    E(x) = -\log \sum_y e^{f(x)_y}, \qquad
    p(y \mid x) = \mathrm{softmax}(f(x))_y,

so the classifier is unchanged and ``p(x) = e^{-E(x)} / Z`` comes for free. JEM
trains ``log p(y | x) + log p(x)``: the cross-entropy of the softmax plus the
contrastive-divergence term ``mean E(x+) - mean E(x-)`` with negatives ``x-``
from short-run SGLD started from a replay buffer (their Alg. 1: 20 steps, step
size 1, noise 0.01, 5% fresh noise; statjax's
:func:`statjax.samplers.du_mordatch_langevin` is that kernel). The replay buffer,
the short-run chains and the training state are those of
:mod:`statjax.models.ebm` (:func:`~statjax.models.ebm.sample_replay_buffer`,
:func:`~statjax.models.ebm.short_run_chains`,
:class:`~statjax.models.ebm.EBMTrainState`); an energy-magnitude penalty
``alpha (E(x+)^2 + E(x-)^2)`` (Du & Mordatch 2019) keeps the energies bounded.
With ``generative_weight = 0`` a step is exactly a softmax classifier's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.tree_util import Partial

from statjax.checks import check_count
from statjax.models.ebm.chains import Sampler, short_run_chains
from statjax.models.ebm.replay import sample_replay_buffer
from statjax.models.ebm.training import EBMTrainState, init_training
from statjax.pytree import Pytree, guarded_jit, static_field
from statjax.types import ArrayTree

__all__ = [
    "JEM",
    "JEMClassifier",
    "JEMMetrics",
    "JEMSettings",
    "init_training",
    "jem",
    "jem_loss",
    "jem_training_step",
    "train_jem",
]


class JEMClassifier(nn.Module):
    """An MLP from flat inputs ``(..., D)`` to logits ``(..., num_classes)`` (swish: smooth in x).

    Attributes:
        hidden_sizes: widths of the hidden layers.
        num_classes: number of classes.
    """

    hidden_sizes: Sequence[int] = (64, 64)
    num_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits ``f(x)``."""
        hidden = x
        for size in self.hidden_sizes:
            hidden = nn.swish(nn.Dense(size)(hidden))
        return nn.Dense(self.num_classes)(hidden)


class JEM(Pytree):
    """A classifier's logits read as an energy: ``E(params, x) = -logsumexp_y f(x)_y``.

    Callable like :class:`statjax.models.ebm.EnergyFunction` (so the EBM training
    tools take it); :meth:`bind` gives the one-argument energy of a kernel.
    """

    module: nn.Module = static_field()

    def logits(self, params: ArrayTree, x: jax.Array) -> jax.Array:
        """``f(x)``, ``(..., num_classes)``."""
        logits: jax.Array = self.module.apply({"params": params}, x)  # type: ignore[assignment]
        return logits

    def __call__(self, params: ArrayTree, x: jax.Array) -> jax.Array:
        """``E(x) = -logsumexp f(x)``: a scalar for one input, ``(...)`` for a batch."""
        return -jax.nn.logsumexp(self.logits(params, x), axis=-1)

    def class_probabilities(self, params: ArrayTree, x: jax.Array) -> jax.Array:
        """``p(y | x) = softmax(f(x))``."""
        return jax.nn.softmax(self.logits(params, x), axis=-1)

    def bind(self, params: ArrayTree) -> Partial:
        """``x -> E(x)`` with ``params`` as traced leaves."""
        return Partial(self, params)


def jem(module: nn.Module) -> JEM:
    """The :class:`JEM` of a Flax classifier returning logits.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = jem(JEMClassifier(hidden_sizes=(8,), num_classes=3))
        >>> params = model.module.init(jax.random.key(0), jnp.zeros(4))["params"]
        >>> logits = model.logits(params, jnp.ones(4))
        >>> bool(jnp.allclose(model(params, jnp.ones(4)), -jax.nn.logsumexp(logits)))
        True
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a flax.linen.Module, got {type(module).__name__}.")
    return JEM(module)


class JEMSettings(NamedTuple):
    """Numbers of a JEM update; all traced (a sweep never recompiles).

    Attributes:
        generative_weight: weight of the ``log p(x)`` term (1 in JEM; 0: a plain
            softmax classifier).
        num_sampling_steps: SGLD steps per update (20 in JEM; 0 skips sampling).
        reinit_prob: probability of a fresh-noise chain (0.05).
        regularization: ``alpha`` of ``alpha (E(x+)^2 + E(x-)^2)``.
        noise_low, noise_high: the fresh noise's range.
        data_noise: s.d. of Gaussian noise added to the inputs of ``log p(x)``.
    """

    generative_weight: jax.typing.ArrayLike = 1.0
    num_sampling_steps: jax.typing.ArrayLike = 20
    reinit_prob: jax.typing.ArrayLike = 0.05
    regularization: jax.typing.ArrayLike = 0.1
    noise_low: jax.typing.ArrayLike = -1.0
    noise_high: jax.typing.ArrayLike = 1.0
    data_noise: jax.typing.ArrayLike = 0.0


class JEMMetrics(NamedTuple):
    """Per-update numbers.

    Attributes:
        loss: the objective differentiated.
        cross_entropy: ``-mean log p(y | x)`` of the batch.
        accuracy: batch accuracy.
        energy_data: mean ``E`` of the batch.
        energy_samples: mean ``E`` of the negatives.
    """

    loss: jax.Array
    cross_entropy: jax.Array
    accuracy: jax.Array
    energy_data: jax.Array
    energy_samples: jax.Array


def jem_loss(
    params: ArrayTree,
    model: JEM,
    x: jax.Array,
    labels: jax.Array,
    negatives: jax.Array,
    generative_weight: jax.typing.ArrayLike = 1.0,
    regularization: jax.typing.ArrayLike = 0.1,
    noisy_x: jax.Array | None = None,
) -> tuple[jax.Array, JEMMetrics]:
    """``-mean log p(y|x) + w [mean E(x+) - mean E(x-) + alpha mean(E(x+)^2 + E(x-)^2)]``.

    The negatives are held fixed (no gradient through the sampler); ``noisy_x``
    (default ``x``) are the positives of the generative term.
    """
    logits = model.logits(params, x)
    cross_entropy = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    positives = x if noisy_x is None else noisy_x
    energy_data = model(params, positives)
    energy_negatives = model(params, jax.lax.stop_gradient(negatives))
    generative = (
        jnp.mean(energy_data)
        - jnp.mean(energy_negatives)
        + regularization * (jnp.mean(energy_data**2) + jnp.mean(energy_negatives**2))
    )
    loss = cross_entropy + generative_weight * generative
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    return loss, JEMMetrics(
        loss, cross_entropy, accuracy, jnp.mean(energy_data), jnp.mean(energy_negatives)
    )


def _step_keys(state: EBMTrainState) -> jax.Array:
    """Keys of update ``state.step``: (minibatch, buffer, chains, data noise)."""
    return jax.random.split(jax.random.fold_in(state.key, state.step), 4)


def jem_training_step(
    state: EBMTrainState,
    x: jax.Array,
    labels: jax.Array,
    *,
    model: JEM,
    sampler: Sampler,
    optimizer: Any,
    settings: JEMSettings | None = None,
) -> tuple[EBMTrainState, JEMMetrics]:
    """One JEM update (Grathwohl et al. 2020, Alg. 1), pure and jittable.

    1. starts from the replay buffer (fresh uniform noise w.p. ``reinit_prob``);
    2. ``num_sampling_steps`` steps of ``sampler(model.bind(params))``
       (:func:`~statjax.models.ebm.short_run_chains`, the one driver);
    3. one optimizer step on :func:`jem_loss`;
    4. the chains' end points overwrite the oldest buffer entries.

    Update ``t`` draws from ``fold_in(state.key, t)``: a resumed run repeats.
    """
    settings = JEMSettings() if settings is None else settings
    batch_size = x.shape[0]
    _, key_buffer, key_chains, key_noise = _step_keys(state)
    starts, _ = sample_replay_buffer(
        key_buffer, state.buffer, batch_size, settings.reinit_prob, settings.noise_low,
        settings.noise_high,
    )  # fmt: skip
    final, _ = short_run_chains(
        sampler(model.bind(state.params)), key_chains, starts, settings.num_sampling_steps
    )
    negatives = jax.lax.stop_gradient(final.position)
    noisy_x = x + settings.data_noise * jax.random.normal(key_noise, x.shape, x.dtype)
    (_, metrics), grads = jax.value_and_grad(jem_loss, has_aux=True)(
        state.params, model, x, labels, negatives, settings.generative_weight,
        settings.regularization, noisy_x,
    )  # fmt: skip
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    slots = (state.step * batch_size + jnp.arange(batch_size)) % state.buffer.shape[0]
    buffer = state.buffer.at[slots].set(negatives.astype(state.buffer.dtype))
    return EBMTrainState(params, opt_state, buffer, state.key, state.step + 1), metrics


@partial(guarded_jit, static_argnames=("model", "optimizer", "num_steps", "batch_size"))
def _train(state, x, labels, sampler, settings, model, optimizer, num_steps, batch_size):
    def body(state, _):
        indices = jax.random.randint(_step_keys(state)[0], (batch_size,), 0, x.shape[0])
        return jem_training_step(
            state, x[indices], labels[indices], model=model, sampler=sampler,
            optimizer=optimizer, settings=settings,
        )  # fmt: skip

    return jax.lax.scan(body, state, length=num_steps)


def train_jem(
    state: EBMTrainState,
    x: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    model: JEM,
    sampler: Sampler | Callable,
    optimizer: Any,
    num_steps: int,
    batch_size: int,
    settings: JEMSettings | None = None,
) -> tuple[EBMTrainState, JEMMetrics]:
    """``num_steps`` JEM updates on minibatches drawn with replacement, in one compiled scan.

    ``model`` and ``optimizer`` are static (build them once); the sampler and the
    settings are traced. Returns the state and the metrics stacked over updates.
    """
    x, labels = jnp.asarray(x), jnp.asarray(labels, jnp.int32)
    check_count("num_steps", num_steps)
    check_count("batch_size", batch_size)
    if x.shape[0] != labels.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but labels has {labels.shape[0]}.")
    if state.buffer.shape[1:] != x.shape[1:] or state.buffer.shape[0] < batch_size:
        raise ValueError(
            f"the replay buffer {state.buffer.shape} must hold points of shape {x.shape[1:]} "
            f"and at least batch_size={batch_size} of them (init_training(buffer_size=...))."
        )
    settings = JEMSettings() if settings is None else settings
    return _train(
        state, x, labels, sampler, settings, model=model, optimizer=optimizer,
        num_steps=num_steps, batch_size=batch_size,
    )  # fmt: skip
