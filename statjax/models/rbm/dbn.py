"""Deep belief networks (Hinton, Osindero & Teh 2006): greedy training and ancestral samples."""

from collections.abc import Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp

from statjax.checks import as_key, check_count
from statjax.models.rbm.energies import hidden_probabilities, visible_mean
from statjax.models.rbm.params import RBMParams, base_rate_visible_bias, init_rbm
from statjax.models.rbm.sampling import block_gibbs, sample_hidden, sample_visible
from statjax.models.rbm.training import Optimizer, train_rbm
from statjax.samplers.run import run_chains
from statjax.types import PRNGKey


def train_dbn(
    key: PRNGKey,
    data: jax.Array,
    hidden_sizes: Sequence[int],
    optimizer: Optimizer,
    *,
    weight_scale: float = 0.01,
    **train_kwargs: Any,
) -> list[RBMParams]:
    """Greedy layer-wise training of a deep belief network (Hinton, Osindero & Teh 2006).

    Layer ``l`` is a binary RBM trained (:func:`~statjax.models.rbm.train_rbm`,
    ``train_kwargs`` passed on, key ``fold_in(key, l)``) on the hidden
    probabilities ``p(h | v)`` of layer ``l - 1`` (the data for the first), its
    visible bias started at the base rate of its input. Each added layer improves
    a variational lower bound on ``log p(data)`` (Hinton et al. 2006).

    Returns:
        The layers' parameters, bottom first.

    Examples:
        >>> import jax, jax.numpy as jnp, optax
        >>> data = (jax.random.uniform(jax.random.key(0), (64, 8)) < 0.3).astype(jnp.float32)
        >>> layers = train_dbn(jax.random.key(1), data, [6, 4], optax.sgd(0.1),
        ...                    num_epochs=1, batch_size=16)
        >>> [p.weights.shape for p in layers]
        [(8, 6), (6, 4)]
    """
    key = as_key(key)
    layers: list[RBMParams] = []
    inputs = jnp.asarray(data, jnp.float32)
    for depth, num_hidden in enumerate(hidden_sizes):
        key_init, key_train = jax.random.split(jax.random.fold_in(key, depth))
        params = init_rbm(
            key_init, inputs.shape[-1], num_hidden,
            weight_scale=weight_scale, visible_bias=base_rate_visible_bias(inputs),
        )  # fmt: skip
        state, _ = train_rbm(key_train, params, inputs, optimizer, **train_kwargs)
        layers.append(cast(RBMParams, state.params))
        inputs = hidden_probabilities(state.params, inputs)
    return layers


def sample_dbn(
    key: PRNGKey, layers: Sequence[RBMParams], num_samples: int, *, num_gibbs_steps: int = 1000
) -> jax.Array:
    """Ancestral samples of a DBN: Gibbs in the top RBM, then one pass down ``p(v | h)``.

    The top two layers form an undirected RBM, sampled by ``num_gibbs_steps``
    block-Gibbs sweeps from random states (:func:`statjax.run_chains` with
    :func:`~statjax.models.rbm.block_gibbs`); every lower layer is a directed
    sigmoid belief net, sampled top-down (Hinton, Osindero & Teh 2006). The bottom
    layer returns probabilities ``E[v | h_1]`` (the usual way to show samples).

    Returns:
        ``(num_samples, num_visible)`` visible means.
    """
    key = as_key(key)
    num_samples = check_count("num_samples", num_samples)
    num_gibbs_steps = check_count("num_gibbs_steps", num_gibbs_steps)
    key_init, key_top, key_down = jax.random.split(key, 3)
    top = layers[-1]
    start = (jax.random.uniform(key_init, (num_samples, top.weights.shape[0])) < 0.5).astype(
        jnp.float32
    )
    final, _ = run_chains(block_gibbs(top), key_top, start, num_gibbs_steps)
    hidden = final.position.visible  # the top RBM's visible layer: the hidden units below
    if len(layers) == 1:
        return visible_mean(top, sample_hidden(top, key_down, hidden))
    for depth, params in enumerate(reversed(layers[1:-1])):
        hidden = sample_visible(params, jax.random.fold_in(key_down, depth), hidden)
    return visible_mean(layers[0], hidden)


__all__ = ["sample_dbn", "train_dbn"]
