"""Evaluating an RBM: log-likelihood, pseudo-log-likelihood and reconstruction error."""

import jax
import jax.numpy as jnp

from statjax.models.rbm.energies import free_energy, hidden_probabilities, visible_mean
from statjax.models.rbm.log_z import exact_log_z
from statjax.models.rbm.params import GaussianRBMParams, RBMParams


def log_likelihood(
    params: RBMParams | GaussianRBMParams,
    data: jax.Array,
    log_z: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Average log-likelihood ``mean_n [-F(v_n)] - log Z`` (nats per example).

    ``log_z`` defaults to :func:`~statjax.models.rbm.exact_log_z`; pass an AIS
    estimate for large RBMs. (For a Gaussian RBM this is a log-density.)
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


def reconstruction_error(params: RBMParams | GaussianRBMParams, data: jax.Array) -> jax.Array:
    """Mean squared reconstruction error per example, ``mean_n ||v_n - E[v | E[h | v_n]]||^2``.

    Mean-field (probabilities, not samples): deterministic, the number CD
    implementations usually print. It is not a likelihood: a poor RBM can
    reconstruct well (Hinton 2010).
    """
    reconstruction = visible_mean(params, hidden_probabilities(params, data))
    return jnp.mean(jnp.sum((data - reconstruction) ** 2, -1))


__all__ = ["log_likelihood", "pseudo_log_likelihood", "reconstruction_error"]
