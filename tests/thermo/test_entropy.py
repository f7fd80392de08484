"""Entropies of predictive distributions and the free-energy loss against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np

from statjax.thermo import entropy as metrics

LN2 = np.log(2.0)


def test_entropy_values():
    assert float(metrics.categorical_entropy(jnp.array([1.0, 0.0]))) == 0.0  # 0 log 0 = 0
    np.testing.assert_allclose(
        metrics.categorical_entropy(jnp.full(4, 0.25)), np.log(4.0), rtol=1e-6
    )
    p = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(metrics.categorical_entropy(p), -np.sum(p * np.log(p)), rtol=1e-6)
    logits = jnp.array([[0.0, 1.0, -2.0], [50.0, -50.0, 0.0]])
    np.testing.assert_allclose(
        metrics.entropy_from_logits(logits),
        metrics.categorical_entropy(jax.nn.softmax(logits)),
        atol=1e-6,
    )


def test_predictive_expected_entropy_and_mutual_information():
    # Two members, one input: confident and disagreeing -> all uncertainty is epistemic.
    disagree = jnp.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    np.testing.assert_allclose(metrics.predictive_entropy(disagree), [LN2], rtol=1e-6)
    np.testing.assert_allclose(metrics.expected_entropy(disagree), [0.0], atol=1e-7)
    np.testing.assert_allclose(metrics.mutual_information(disagree), [LN2], rtol=1e-6)
    # Two members that agree on a uniform prediction -> all aleatoric, zero mutual information.
    agree = jnp.full((2, 1, 2), 0.5)
    np.testing.assert_allclose(metrics.predictive_entropy(agree), [LN2], rtol=1e-6)
    np.testing.assert_allclose(metrics.mutual_information(agree), [0.0], atol=1e-7)
    # A hand-computed mixed case: p1 = (0.9, 0.1), p2 = (0.5, 0.5), mean (0.7, 0.3).
    mixed = jnp.array([[0.9, 0.1], [0.5, 0.5]])
    h = lambda p: -sum(q * np.log(q) for q in p)
    np.testing.assert_allclose(metrics.predictive_entropy(mixed), h([0.7, 0.3]), rtol=1e-6)
    np.testing.assert_allclose(
        metrics.expected_entropy(mixed), (h([0.9, 0.1]) + h([0.5, 0.5])) / 2, rtol=1e-6
    )


def test_weights_mask_out_empty_samples():
    probs = jnp.array([[0.9, 0.1], [0.5, 0.5], [0.0, 1.0]])
    masked = metrics.predictive_entropy(probs, weights=jnp.array([True, True, False]))
    np.testing.assert_allclose(masked, metrics.predictive_entropy(probs[:2]), rtol=1e-6)


def test_negative_log_likelihood():
    probs = jnp.array([[0.5, 0.5], [0.1, 0.9], [0.25, 0.75]])
    labels = jnp.array([0, 1, 0])
    expected = -(np.log(0.5) + np.log(0.9) + np.log(0.25)) / 3
    np.testing.assert_allclose(metrics.negative_log_likelihood(probs, labels), expected, rtol=1e-6)
    assert np.isfinite(metrics.negative_log_likelihood(jnp.array([[1.0, 0.0]]), jnp.array([1])))


def test_free_energy_loss_is_loss_minus_temperature_times_entropy():
    logits = jnp.array([[0.0, 0.0], [10.0, -10.0]])
    mean_entropy = (LN2 + float(metrics.entropy_from_logits(logits[1]))) / 2
    np.testing.assert_allclose(
        metrics.free_energy_loss(1.5, logits, 0.3), 1.5 - 0.3 * mean_entropy, rtol=1e-6
    )
    # Gradient of the penalty pushes logits towards higher entropy (less confident).
    grad = jax.grad(lambda z: metrics.free_energy_loss(0.0, z, 1.0))(jnp.array([[2.0, -2.0]]))
    assert grad[0, 0] > 0 > grad[0, 1]
