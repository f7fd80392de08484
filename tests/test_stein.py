"""The IMQ kernel Stein discrepancy against exact answers.

- The closed-form Stein kernel equals the Langevin Stein operator applied to the
  IMQ kernel by automatic differentiation (rounding only).
- Exact samples of ``exp(-beta E)`` (Gaussian, beta = 2): the wild-bootstrap test
  keeps the null, ``p > 0.01`` (fixed seeds).
- Samples shifted by ``delta`` from a standard normal target: the U-statistic is
  unbiased for ``KSD^2 = |delta|^2 E[(1 + |z - z'|^2)^(-1/2)]`` (the cross term
  vanishes by symmetry), with ``|z - z'|^2 ~ 2 chi^2_d``, computed by quadrature;
  the mean over 16 independent batches lies within 4 standard errors (the
  spread of the batches over sqrt(16)) of it, and the KSD grows monotonically
  with ``delta`` on common random numbers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from statjax.stein import imq_stein_kernel, kernel_stein_discrepancy, ksd_test

DIM = 3
NUM_SIGMA = 4.0


def _quadratic(x):
    return 0.5 * jnp.sum(x**2)


def test_closed_form_matches_autodiff():
    keys = jax.random.split(jax.random.key(0), 2)
    x, y = jax.random.normal(keys[0], (2, DIM))
    sx, sy = jax.random.normal(keys[1], (2, DIM))

    def kernel(a, b):
        return (1.0 + jnp.sum((a - b) ** 2)) ** -0.5

    @jax.jit  # one program: eager, every small op would compile on its own
    def both(x, y, sx, sy):
        trace = jnp.trace(jax.jacfwd(jax.grad(kernel, 0), 1)(x, y))
        expected = (
            sx @ sy * kernel(x, y)
            + sx @ jax.grad(kernel, 1)(x, y)
            + sy @ jax.grad(kernel, 0)(x, y)
            + trace
        )
        return expected, imq_stein_kernel(jnp.stack([x, y]), jnp.stack([sx, sy]))

    expected, matrix = both(x, y, sx, sy)
    np.testing.assert_allclose(matrix[0, 1], expected, rtol=1e-5)
    np.testing.assert_allclose(matrix[0, 1], matrix[1, 0], rtol=1e-5)


def test_exact_samples_keep_the_null():
    beta = 2.0
    samples = jax.random.normal(jax.random.key(1), (400, DIM)) / np.sqrt(beta)
    result, p_value = ksd_test(jax.random.key(2), samples, _quadratic, beta=beta)
    assert float(p_value) > 0.01, (result, p_value)
    # The same samples against the wrong temperature are refused.
    _, p_wrong = ksd_test(jax.random.key(2), samples, _quadratic, beta=1.0)
    assert float(p_wrong) < 0.01


def _mean_kernel(dim):
    """E[(1 + |z - z'|^2)^(-1/2)], |z - z'|^2 = 2 X, X ~ chi^2_dim."""
    value, _ = integrate.quad(lambda x: (1 + 2 * x) ** -0.5 * stats.chi2.pdf(x, dim), 0, np.inf)
    return value


def test_ksd_grows_with_a_known_mean_bias():
    deltas = [0.0, 0.5, 1.0, 2.0]
    direction = np.ones(DIM) / np.sqrt(DIM)
    batches = jax.random.normal(jax.random.key(3), (16, 200, DIM))
    mean_kernel = _mean_kernel(DIM)
    ksds = []
    for delta in deltas:
        u = [
            float(kernel_stein_discrepancy(z + delta * direction, _quadratic).u_statistic)
            for z in batches
        ]
        standard_error = np.std(u, ddof=1) / np.sqrt(len(u))
        expected = delta**2 * mean_kernel
        assert abs(np.mean(u) - expected) < NUM_SIGMA * standard_error, (delta, np.mean(u))
        ksds.append(float(kernel_stein_discrepancy(batches[0] + delta * direction, _quadratic).ksd))
    assert np.all(np.diff(ksds) > 0), ksds


def test_bad_arguments_are_refused():
    samples = jnp.zeros((5, 2))
    with pytest.raises(ValueError, match="exactly one"):
        kernel_stein_discrepancy(samples)
    with pytest.raises(ValueError, match="exponent"):
        kernel_stein_discrepancy(samples, _quadratic, exponent=0.5)
    with pytest.raises(ValueError, match="beta"):
        kernel_stein_discrepancy(samples, _quadratic, beta=-1.0)
