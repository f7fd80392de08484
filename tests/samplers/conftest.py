"""Shared checks for sampler tests: exact Gaussian moments with Monte-Carlo tolerances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

NUM_SIGMA = 5.0
"""Tolerance in standard errors; two-sided p ~ 6e-7 per comparison with fixed seeds."""


def _assert_gaussian_moments(samples, mean, variance):
    """``samples: (n, d)`` iid draws; compare with exact ``mean`` and ``variance``.

    Standard errors of iid estimates: ``sqrt(var / n)`` for the mean and
    ``var * sqrt(2 / (n - 1))`` for the sample variance of a Gaussian.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    mean, variance = np.broadcast_to(mean, samples.shape[1:]), np.asarray(variance)
    mean_error = np.abs(samples.mean(0) - mean)
    np.testing.assert_array_less(mean_error, NUM_SIGMA * np.sqrt(variance / n))
    variance_error = np.abs(samples.var(0, ddof=1) - variance)
    np.testing.assert_array_less(variance_error, NUM_SIGMA * variance * np.sqrt(2 / (n - 1)))


@pytest.fixture
def assert_gaussian_moments():
    return _assert_gaussian_moments


@pytest.fixture
def gaussian():
    """A 3-D anisotropic Gaussian with a shifted mean."""
    from statjax.energy import AnisotropicGaussian

    return AnisotropicGaussian(mean=jnp.array([1.0, -0.5, 0.0]), scales=jnp.array([1.0, 0.5, 2.0]))


@pytest.fixture
def dispersed_positions():
    def make(num_chains, dim, seed=1):
        return 2.0 * jax.random.normal(jax.random.key(seed), (num_chains, dim))

    return make
