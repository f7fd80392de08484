"""Calibration metrics (statjax.calibration) against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax import calibration


def test_ece_hand_computed():
    # Bin (0.6, 0.7]: confidences 0.7, 0.7 with one correct -> |0.5 - 0.7| weight 2/4.
    # Bin (0.9, 1.0]: confidences 1.0, 0.95, both correct -> |1 - 0.975| weight 2/4.
    probs = jnp.array([[0.7, 0.3], [0.3, 0.7], [1.0, 0.0], [0.05, 0.95]])
    labels = jnp.array([0, 0, 0, 1])
    expected = 0.5 * 0.2 + 0.5 * 0.025
    ece = calibration.expected_calibration_error(probs, labels, num_bins=10)
    np.testing.assert_allclose(ece, expected, rtol=1e-5)
    _, _, count = calibration.reliability_diagram(probs, labels, num_bins=10)
    np.testing.assert_array_equal(count, [0, 0, 0, 0, 0, 0, 2, 0, 0, 2])


def test_ece_of_a_perfectly_calibrated_predictor_is_small():
    """Labels drawn from the predicted probabilities: ECE is only sampling noise, ~sqrt(B / N)."""
    key_logits, key_labels = jax.random.split(jax.random.key(0))
    n, num_bins = 200_000, 10
    probs = jax.nn.softmax(2.0 * jax.random.normal(key_logits, (n, 3)))
    labels = jax.random.categorical(key_labels, jnp.log(probs))
    ece = float(calibration.expected_calibration_error(probs, labels, num_bins))
    assert ece < 5 * np.sqrt(num_bins / n) / 2  # about 0.0035 here; noise scale ~ 0.004
    # A confident but wrong predictor is badly calibrated.
    overconfident = jax.nn.softmax(10.0 * jnp.log(probs))
    assert float(calibration.expected_calibration_error(overconfident, labels, num_bins)) > 0.1


def test_bad_bins_raise():
    with pytest.raises(ValueError, match="num_bins"):
        calibration.expected_calibration_error(jnp.ones((1, 2)) / 2, jnp.zeros(1, int), num_bins=0)


def test_exported_from_the_package():
    assert statjax.calibration.expected_calibration_error is calibration.expected_calibration_error
    with pytest.raises(ValueError, match="num_bins"):
        calibration.reliability_diagram(jnp.ones((1, 2)) / 2, jnp.zeros(1, int), num_bins=2.5)
