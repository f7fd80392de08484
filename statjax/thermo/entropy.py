"""Entropy and uncertainty of predictive distributions; the free-energy (confidence-penalty) loss.

For an ensemble of categorical predictions ``p_s(y | x)``, ``s = 1..S`` (posterior
samples, or ensemble members), with optional weights ``w_s`` summing to one:

- predictive entropy ``H[p_bar]``, ``p_bar = sum_s w_s p_s`` (total uncertainty);
- expected entropy ``sum_s w_s H[p_s]`` (aleatoric part);
- mutual information ``I(y; theta | x) = H[p_bar] - sum_s w_s H[p_s] >= 0``
  (epistemic part; the BALD score of Houlsby, Huszár, Ghahramani & Lengyel 2011).

Entropies are in nats. Probabilities have the class axis last; sample axes come
first (``(S, ..., C)``). ``0 log 0`` counts as 0. Calibration metrics (ECE,
reliability diagrams) are in :mod:`statjax.calibration`.
"""

import jax
import jax.numpy as jnp


def categorical_entropy(probs: jax.typing.ArrayLike, axis: int = -1) -> jax.Array:
    """``H[p] = -sum_c p_c log p_c`` along ``axis`` (nats), with ``0 log 0 = 0``.

    Examples:
        >>> round(float(categorical_entropy(jnp.array([0.5, 0.5]))), 6)
        0.693147
    """
    probs = jnp.asarray(probs)
    return -jnp.sum(jax.scipy.special.xlogy(probs, probs), axis=axis)


def entropy_from_logits(logits: jax.typing.ArrayLike, axis: int = -1) -> jax.Array:
    """``H[softmax(logits)]``, computed stably from ``log_softmax``."""
    log_probs = jax.nn.log_softmax(jnp.asarray(logits), axis=axis)
    return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=axis)


def _sample_weights(sample_probs: jax.Array, weights) -> jax.Array:
    num_samples = sample_probs.shape[0]
    if weights is None:
        return jnp.full((num_samples,), 1.0 / num_samples, sample_probs.dtype)
    weights = jnp.asarray(weights, sample_probs.dtype)
    return weights / jnp.sum(weights)


def predictive_entropy(
    sample_probs: jax.typing.ArrayLike, weights: jax.typing.ArrayLike | None = None
) -> jax.Array:
    """``H[sum_s w_s p_s]`` for ``sample_probs: (S, ..., C)``; result ``(...)``.

    Args:
        sample_probs: per-sample class probabilities, samples first, classes last.
        weights: optional ``(S,)`` nonnegative weights (e.g. a collector's ``mask``),
            normalised here; uniform by default.

    Examples:
        >>> probs = jnp.array([[1.0, 0.0], [0.0, 1.0]])  # two confident, disagreeing members
        >>> round(float(predictive_entropy(probs)), 6)
        0.693147
    """
    sample_probs = jnp.asarray(sample_probs)
    mean_probs = jnp.tensordot(_sample_weights(sample_probs, weights), sample_probs, axes=1)
    return categorical_entropy(mean_probs)


def expected_entropy(sample_probs: jax.typing.ArrayLike, weights=None) -> jax.Array:
    """``sum_s w_s H[p_s]`` for ``sample_probs: (S, ..., C)``; result ``(...)`` (aleatoric part).

    Examples:
        >>> probs = jnp.array([[1.0, 0.0], [0.5, 0.5]])
        >>> round(float(expected_entropy(probs)), 6)  # (0 + ln 2) / 2
        0.346574
    """
    sample_probs = jnp.asarray(sample_probs)
    return jnp.tensordot(
        _sample_weights(sample_probs, weights), categorical_entropy(sample_probs), axes=1
    )


def mutual_information(sample_probs: jax.typing.ArrayLike, weights=None) -> jax.Array:
    """``H[p_bar] - E_s H[p_s]``: the epistemic part of the predictive entropy (BALD), ``>= 0``.

    Examples:
        >>> probs = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        >>> round(float(mutual_information(probs)), 6)
        0.693147
    """
    return predictive_entropy(sample_probs, weights) - expected_entropy(sample_probs, weights)


def negative_log_likelihood(
    probs: jax.typing.ArrayLike, labels: jax.typing.ArrayLike, eps: float = 1e-12
) -> jax.Array:
    """Mean ``-log p(y_i | x_i)`` over the batch; ``probs: (N, C)``, integer ``labels: (N,)``.

    Probabilities are floored at ``eps`` so that a confident mistake costs a large
    finite amount instead of ``inf``.

    Examples:
        >>> probs = jnp.array([[0.5, 0.5], [0.1, 0.9]])
        >>> round(float(negative_log_likelihood(probs, jnp.array([0, 1]))), 6)  # (ln 2 - ln 0.9)/2
        0.399254
    """
    probs = jnp.asarray(probs)
    picked = jnp.take_along_axis(probs, jnp.asarray(labels)[:, None], axis=-1)[:, 0]
    return -jnp.mean(jnp.log(jnp.maximum(picked, eps)))


def free_energy_loss(
    loss: jax.typing.ArrayLike, logits: jax.typing.ArrayLike, temperature: jax.typing.ArrayLike
) -> jax.Array:
    """``F = loss - T * mean_i H[softmax(logits_i)]``: the confidence penalty as a free energy.

    Pereyra, Tucker, Chorowski, Kaiser & Hinton (2017), eq. (2): penalising
    low-entropy (over-confident) output distributions by subtracting ``beta H``
    from the negative log-likelihood. Read as ``F = U - T S`` with the loss as
    the energy and the predictive entropy as the entropy, ``T`` trades fit for
    uncertainty; ``T = 0`` is the plain loss.

    Args:
        loss: the scalar data loss (e.g. mean cross-entropy).
        logits: ``(N, C)`` logits whose softmax entropy is averaged over the batch.
        temperature: ``T >= 0`` (may be a traced schedule value).

    Examples:
        >>> round(float(free_energy_loss(1.0, jnp.zeros((4, 2)), 0.5)), 6)
        0.653426
    """
    return jnp.asarray(loss) - temperature * jnp.mean(entropy_from_logits(logits))
