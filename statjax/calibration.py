"""Calibration of classifiers: reliability diagrams and the expected calibration error (ECE).

A classifier is *calibrated* when, among the inputs to which it gives top-class
confidence ``p``, a fraction ``p`` is classified correctly (DeGroot & Fienberg
1983). Binning the confidences into ``B`` equal-width bins ``(b/B, (b+1)/B]``
gives the reliability diagram (accuracy against mean confidence per bin) and
its weighted mean gap, the expected calibration error (Naeini, Cooper &
Hauskrecht 2015; Guo, Pleiss, Sun & Weinberger 2017):

    ECE = sum_b (n_b / N) |acc_b - conf_b|.

Probabilities have the class axis last: ``probs: (N, C)``, integer ``labels: (N,)``.
These metrics judge a predictive distribution (a posterior average, an
ensemble, a tempered softmax); the entropies that split its uncertainty into
aleatoric and epistemic parts are in :mod:`statjax.thermo.entropy`.
"""

import jax
import jax.numpy as jnp

from statjax.checks import check_count


def reliability_diagram(
    probs: jax.typing.ArrayLike, labels: jax.typing.ArrayLike, num_bins: int = 15
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-bin accuracy, mean confidence and count, binning the top-class confidence.

    Bins are ``(b/B, (b+1)/B]`` for ``b = 0..B-1`` (confidence 0 falls in the first).

    Args:
        probs: ``(N, C)`` predicted class probabilities.
        labels: ``(N,)`` integer labels.
        num_bins: ``B``, the number of equal-width bins on ``[0, 1]``.

    Returns:
        ``(accuracy, confidence, count)``, each ``(num_bins,)``; empty bins have
        accuracy and confidence 0.

    Examples:
        >>> import jax.numpy as jnp
        >>> accuracy, confidence, count = reliability_diagram(
        ...     jnp.array([[0.9, 0.1], [0.2, 0.8]]), jnp.array([0, 0]), num_bins=2
        ... )
        >>> accuracy.tolist(), count.tolist()
        ([0.0, 0.5], [0.0, 2.0])
    """
    num_bins = check_count("num_bins", num_bins)
    probs = jnp.asarray(probs)
    confidence = jnp.max(probs, axis=-1)
    correct = (jnp.argmax(probs, axis=-1) == jnp.asarray(labels)).astype(probs.dtype)
    bins = jnp.clip(jnp.ceil(confidence * num_bins).astype(jnp.int32) - 1, 0, num_bins - 1)
    count = jnp.zeros(num_bins, probs.dtype).at[bins].add(1.0)
    correct_sum = jnp.zeros(num_bins, probs.dtype).at[bins].add(correct)
    confidence_sum = jnp.zeros(num_bins, probs.dtype).at[bins].add(confidence)
    safe_count = jnp.maximum(count, 1.0)
    return correct_sum / safe_count, confidence_sum / safe_count, count


def expected_calibration_error(
    probs: jax.typing.ArrayLike, labels: jax.typing.ArrayLike, num_bins: int = 15
) -> jax.Array:
    """``ECE = sum_b (n_b / N) |acc_b - conf_b|`` over equal-width confidence bins.

    Naeini, Cooper & Hauskrecht (2015); Guo, Pleiss, Sun & Weinberger (2017), eq. (3).
    A perfectly calibrated predictor has ECE -> 0 as ``N`` grows (for finite ``N``
    it is of order ``sqrt(num_bins / N)``, the bins' sampling noise).

    Args:
        probs: ``(N, C)`` predicted class probabilities.
        labels: ``(N,)`` integer labels.
        num_bins: ``B``, the number of equal-width bins on ``[0, 1]``.

    Examples:
        >>> import jax.numpy as jnp
        >>> probs = jnp.array([[0.9, 0.1], [0.9, 0.1]])
        >>> round(float(expected_calibration_error(probs, jnp.array([0, 1]), num_bins=10)), 6)
        0.4
    """
    accuracy, confidence, count = reliability_diagram(probs, labels, num_bins)
    return jnp.sum(count * jnp.abs(accuracy - confidence)) / jnp.sum(count)


__all__ = ["expected_calibration_error", "reliability_diagram"]
