"""Collect posterior samples during training, and predict with the kept ensemble.

A training loop driven by an SG-MCMC transform visits parameter sets that are
(approximate) draws from ``exp(-U / T)``. :class:`PosteriorCollector` keeps a
bounded number of them after a burn-in and with thinning, in a ring buffer
that is a pytree of fixed shape: ``collect`` is pure, jit- and vmap-safe, and
never recompiles as samples accumulate. When more than ``capacity`` samples
have been offered, the oldest are overwritten (the most recent ``capacity``
are kept, which suits chains whose early samples are the least equilibrated).

Ensemble prediction averages a function of the parameters over the kept
samples: the Monte-Carlo estimate ``E_post[f(theta)] ~ 1/S sum_s f(theta_s)``
(the Bayesian model average when ``f`` is a predictive probability).
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax.pytree import Pytree, static_field
from statjax.types import ArrayTree


class CollectorState(NamedTuple):
    """The ring buffer of a :class:`PosteriorCollector`.

    Attributes:
        samples: the parameter pytree with a leading axis ``capacity``.
        num_offered: how many times ``collect`` was called (the training step count).
        num_collected: how many samples passed burn-in and thinning (may exceed ``capacity``).
    """

    samples: ArrayTree
    num_offered: jax.Array
    num_collected: jax.Array

    @property
    def num_kept(self) -> jax.Array:
        """How many slots hold a sample: ``min(num_collected, capacity)``."""
        capacity = jax.tree_util.tree_leaves(self.samples)[0].shape[0]
        return jnp.minimum(self.num_collected, capacity)

    @property
    def mask(self) -> jax.Array:
        """``(capacity,)`` booleans: which slots hold a sample."""
        capacity = jax.tree_util.tree_leaves(self.samples)[0].shape[0]
        return jnp.arange(capacity) < self.num_kept


class PosteriorCollector(Pytree):
    """Keep every ``thin``-th parameter set after ``burn_in`` steps, at most ``capacity`` of them.

    Build it with :func:`posterior_collector`. Its settings are static (they fix
    the buffer's shape and the keep rule).
    """

    capacity: int = static_field()
    burn_in: int = static_field()
    thin: int = static_field()

    def init(self, params: ArrayTree) -> CollectorState:
        """An empty buffer shaped for ``capacity`` copies of ``params``."""
        samples = jax.tree_util.tree_map(
            lambda x: jnp.zeros((self.capacity, *jnp.shape(x)), jnp.result_type(x)), params
        )
        zero = jnp.zeros([], jnp.int32)
        return CollectorState(samples, zero, zero)

    def collect(
        self, state: CollectorState, params: ArrayTree, keep: jax.typing.ArrayLike = True
    ) -> CollectorState:
        """Offer ``params`` (one step): kept if past burn-in, on the thinning grid, and ``keep``.

        ``keep`` adds a condition of the caller's, e.g. the sampling stage of
        cyclical SG-MCMC (:func:`statjax.optim.is_sampling_phase`).
        """
        offered = state.num_offered
        after_burn_in = offered >= self.burn_in
        on_grid = jnp.mod(offered - self.burn_in, self.thin) == 0
        store = after_burn_in & on_grid & jnp.asarray(keep, bool)
        slot = jnp.mod(state.num_collected, self.capacity)

        def write(samples):
            return jax.tree_util.tree_map(
                lambda buffer, x: jax.lax.dynamic_update_index_in_dim(
                    buffer, jnp.asarray(x, buffer.dtype), slot, 0
                ),
                samples,
                params,
            )

        samples = jax.lax.cond(store, write, lambda samples: samples, state.samples)
        return CollectorState(samples, offered + 1, state.num_collected + store.astype(jnp.int32))


def posterior_collector(capacity: int, burn_in: int = 0, thin: int = 1) -> PosteriorCollector:
    """A :class:`PosteriorCollector` (validated).

    Args:
        capacity: the most parameter sets kept (>= 1); memory is ``capacity x params``.
        burn_in: steps discarded first (>= 0).
        thin: keep one step in ``thin`` after the burn-in (>= 1).

    Examples:
        >>> import jax.numpy as jnp
        >>> collector = posterior_collector(capacity=3, burn_in=2, thin=2)
        >>> state = collector.init(jnp.zeros(1))
        >>> for step in range(10):
        ...     state = collector.collect(state, jnp.full(1, float(step)))
        >>> state.samples[:, 0].tolist(), int(state.num_kept)
        ([8.0, 4.0, 6.0], 3)
    """
    for name, value, low in (("capacity", capacity, 1), ("burn_in", burn_in, 0), ("thin", thin, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value}.")
    return PosteriorCollector(int(capacity), int(burn_in), int(thin))


def sample_predictions(
    apply_fn: Callable[..., ArrayTree], state: CollectorState, *args, **kwargs
) -> ArrayTree:
    """``apply_fn(theta_s, *args, **kwargs)`` for every slot, on a leading ``capacity`` axis.

    Slots that hold no sample yet give meaningless outputs; weight with ``state.mask``.
    """
    return jax.vmap(lambda params: apply_fn(params, *args, **kwargs))(state.samples)


def ensemble_mean(
    apply_fn: Callable[..., ArrayTree], state: CollectorState, *args, **kwargs
) -> ArrayTree:
    """``1/S sum_s apply_fn(theta_s, ...)`` over the ``S`` kept samples (the posterior average).

    Examples:
        >>> import jax.numpy as jnp
        >>> collector = posterior_collector(capacity=4)
        >>> state = collector.init(jnp.zeros(()))
        >>> for value in (1.0, 3.0):
        ...     state = collector.collect(state, jnp.asarray(value))
        >>> float(ensemble_mean(lambda theta, x: theta * x, state, 2.0))
        4.0
    """
    outputs = sample_predictions(apply_fn, state, *args, **kwargs)
    weights = state.mask / jnp.maximum(state.num_kept, 1)

    def average(y):
        return jnp.tensordot(weights.astype(y.dtype), y, axes=1)

    return jax.tree_util.tree_map(average, outputs)


def ensemble_probabilities(
    logits_fn: Callable[..., jax.Array], state: CollectorState, *args, **kwargs
) -> jax.Array:
    """The Bayesian model average ``1/S sum_s softmax(logits_fn(theta_s, x))``."""
    return ensemble_mean(
        lambda params, *a, **k: jax.nn.softmax(logits_fn(params, *a, **k), axis=-1),
        state,
        *args,
        **kwargs,
    )
