r"""The two training objectives of a deep EBM: contrastive divergence and denoising score matching.

- **Contrastive divergence** (Du & Mordatch 2019): the maximum-likelihood gradient
  ``E_data[grad E] - E_model[grad E]`` with the model expectation replaced by
  short-run negatives, plus an energy-magnitude penalty.
- **Denoising score matching** (Vincent 2011, "A connection between score
  matching and denoising autoencoders"), which needs no sampling.
"""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

from statjax.checks import as_key
from statjax.types import ArrayTree, PRNGKey


def contrastive_divergence_loss(
    params: ArrayTree,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    data: jax.Array,
    negatives: jax.Array,
    regularization: jax.typing.ArrayLike = 0.1,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    r"""Du & Mordatch's loss ``mean E(x+) - mean E(x-) + alpha mean(E(x+)^2 + E(x-)^2)``.

    Its gradient in ``theta`` is the maximum-likelihood gradient
    ``E_data[grad E] - E_model[grad E]`` with the model expectation replaced by the
    negatives (held fixed: gradients do not flow through the sampler), plus the
    energy-magnitude penalty that keeps energies near 0 (Du & Mordatch 2019, eq. 4).

    Args:
        params: network parameters.
        energy_fn: ``energy(params, x)``, batched over the leading axis.
        data: positive examples ``(n, *event_shape)``.
        negatives: model samples ``(m, *event_shape)``.
        regularization: ``alpha >= 0``.

    Returns:
        ``(loss, (mean_energy_data, mean_energy_negatives))``.

    Examples:
        >>> import jax.numpy as jnp
        >>> energy = lambda params, x: params * jnp.sum(x**2, -1)
        >>> loss, _ = contrastive_divergence_loss(1.0, energy, jnp.zeros((3, 2)), jnp.ones((3, 2)))
        >>> print(round(float(loss), 6))  # 0 - 2 + 0.1 * (0 + 4)
        -1.6
    """
    energy_data = energy_fn(params, data)
    energy_negatives = energy_fn(params, jax.lax.stop_gradient(negatives))
    penalty = regularization * (jnp.mean(energy_data**2) + jnp.mean(energy_negatives**2))
    mean_data, mean_negatives = jnp.mean(energy_data), jnp.mean(energy_negatives)
    return mean_data - mean_negatives + penalty, (mean_data, mean_negatives)


def denoising_score_matching_loss(
    params: ArrayTree,
    energy_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    key: PRNGKey,
    data: jax.Array,
    noise_scale: jax.typing.ArrayLike,
) -> tuple[jax.Array, jax.Array]:
    r"""Denoising score matching (Vincent 2011): match ``-grad E`` to the denoising score.

    With ``x~ = x + sigma eps``, ``eps ~ N(0, I)``, the model score
    ``s(x~) = -grad_x E(x~)`` is regressed onto ``grad log q(x~ | x) = -eps / sigma``:

    .. math::

        J(\theta) = \tfrac12 \, \mathbb{E}_{x, \epsilon}
            \big\| \nabla_x E_\theta(x + \sigma \epsilon) - \epsilon / \sigma \big\|^2,

    whose minimiser over all energies is ``-log`` of the *smoothed* data density
    ``p * N(0, sigma^2 I)`` (Vincent 2011, eq. 11): for Gaussian data ``N(mu, Sigma)``
    a quadratic energy learns the precision ``(Sigma + sigma^2 I)^-1``, not
    ``Sigma^-1``. The constant in the energy is not identified.

    Args:
        params: network parameters.
        energy_fn: ``energy(params, x)`` on one input (it is vmapped here).
        key: PRNG key for ``eps``.
        data: ``(n, *event_shape)``.
        noise_scale: ``sigma > 0``.

    Returns:
        ``(loss, mean_energy_of_noisy_data)``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> energy = lambda precision, x: 0.5 * precision * jnp.sum(x**2)
        >>> data = jnp.zeros((1000, 2))  # sigma^2 = 0.01: the optimum is precision = 100
        >>> loss, _ = denoising_score_matching_loss(100.0, energy, jax.random.key(0), data, 0.1)
        >>> print(round(float(loss), 6))
        0.0
    """
    noise = jax.random.normal(as_key(key), data.shape, data.dtype)
    noisy = data + noise_scale * noise
    energies, grads = jax.vmap(jax.value_and_grad(partial(energy_fn, params)))(noisy)
    residual = (grads - noise / noise_scale).reshape(data.shape[0], -1)
    return 0.5 * jnp.mean(jnp.sum(residual**2, axis=-1)), jnp.mean(energies)


__all__ = ["contrastive_divergence_loss", "denoising_score_matching_loss"]
