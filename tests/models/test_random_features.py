"""Random-features regression against exact answers.

- Ridge and min-norm coefficients against float64 normal equations and numpy's lstsq.
- The exact expected error of min-norm least squares with isotropic Gaussian
  features (Belkin, Hsu & Xu 2020; Hastie, Montanari, Rosset & Tibshirani 2022;
  from the inverse-Wishart mean): ``sigma^2 p / (n - p - 1)`` below the threshold and
  ``|beta|^2 (1 - n/p) + sigma^2 n / (p - n - 1)`` above it.
- ReLU random features against the arc-cosine kernel (Cho & Saul 2009).
Monte-Carlo comparisons use K_SIGMA standard errors computed from the same draws.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statjax.models import random_features as rf

K_SIGMA = 4.0  # tolerance in Monte-Carlo standard errors


@pytest.mark.parametrize("num_features", [5, 12, 30])  # 12: square, p = n
def test_ridge_and_min_norm_match_float64_solutions(num_features):
    rng = np.random.default_rng(num_features)
    num_train = 12
    features = rng.standard_normal((num_train, num_features))
    targets = rng.standard_normal((num_train, 2))
    ridges = np.array([0.0, 1e-3, 0.1, 10.0])
    coefficients = np.asarray(
        rf.ridge_regression(features.astype(np.float32), targets.astype(np.float32), ridges)
    )
    assert coefficients.shape == (4, num_features, 2)
    # lambda = 0: min-norm least squares (numpy lstsq = pseudo-inverse).
    expected = np.linalg.lstsq(features, targets, rcond=None)[0]
    np.testing.assert_allclose(coefficients[0], expected, rtol=2e-3, atol=2e-4)
    for row, ridge in zip(coefficients[1:], ridges[1:], strict=True):
        gram = features.T @ features + num_train * ridge * np.eye(num_features)
        np.testing.assert_allclose(
            row, np.linalg.solve(gram, features.T @ targets), rtol=2e-3, atol=2e-4
        )
    if num_features >= num_train:  # past the threshold the min-norm fit interpolates
        np.testing.assert_allclose(features @ coefficients[0], targets, atol=1e-4)
    one_target = rf.ridge_regression(features, targets[:, 0], ridges)
    np.testing.assert_allclose(one_target, coefficients[..., 0], rtol=1e-4, atol=1e-5)


def test_min_norm_solution_of_a_rank_deficient_design_is_the_pseudo_inverse():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((10, 3))
    features = np.concatenate([base, base[:, :1]], axis=1)  # column 3 repeats column 0
    targets = rng.standard_normal(10)
    coefficients = np.asarray(rf.ridge_regression(features, targets, np.zeros(1))[0])
    # The pseudo-inverse splits the repeated column's weight evenly; without the cut-off
    # the zero singular value would blow the coefficients up.
    np.testing.assert_allclose(coefficients, np.linalg.pinv(features) @ targets, rtol=1e-4)
    assert coefficients[0] == pytest.approx(coefficients[3], rel=1e-4)


@pytest.mark.parametrize("num_features", [6, 40])
def test_min_norm_risk_matches_the_exact_double_descent_formula(num_features):
    num_train, noise_std, num_draws = 20, 0.5, 1000
    coefficients_true = np.full(num_features, 1.0 / np.sqrt(num_features))  # |beta| = 1
    # Draws from numpy: a vmapped JAX generator would cost more to compile than the test.
    rng = np.random.default_rng(num_features)
    features = rng.standard_normal((num_draws, num_train, num_features)).astype(np.float32)
    noise = noise_std * rng.standard_normal((num_draws, num_train))
    targets = (features @ coefficients_true + noise).astype(np.float32)
    solve = jax.vmap(rf.ridge_regression, (0, 0, None))
    estimates = np.asarray(solve(features, targets, jnp.zeros(1))[:, 0], np.float64)
    errors = np.sum((estimates - coefficients_true) ** 2, axis=1)  # excess risk, isotropic x
    if num_features < num_train - 1:
        exact = noise_std**2 * num_features / (num_train - num_features - 1)
    else:
        exact = (1 - num_train / num_features) + noise_std**2 * num_train / (
            num_features - num_train - 1
        )
    stderr = errors.std(ddof=1) / np.sqrt(num_draws)
    assert abs(errors.mean() - exact) < K_SIGMA * stderr, (errors.mean(), exact, stderr)


def test_relu_features_converge_to_the_arc_cosine_kernel():
    dim, num_features = 5, 20_000
    inputs = jnp.array([[1.0, 0.5, -0.3, 0.0, 2.0], [0.2, -1.0, 0.4, 1.0, 0.5]])
    weights = jax.random.normal(jax.random.key(0), (num_features, dim))
    features = np.asarray(rf.random_features(inputs, weights), np.float64)
    products = features[0] * features[1]  # (1/p) Phi Phi^T off-diagonal, per feature
    norms = np.linalg.norm(np.asarray(inputs), axis=1)
    angle = np.arccos(np.dot(*np.asarray(inputs)) / norms.prod())
    exact = norms.prod() / (2 * np.pi * dim) * (np.sin(angle) + (np.pi - angle) * np.cos(angle))
    stderr = products.std(ddof=1) / np.sqrt(num_features)
    assert abs(products.mean() - exact) < K_SIGMA * stderr, (products.mean(), exact)


def test_a_new_ridge_grid_does_not_recompile_and_bad_input_is_named():
    solve = jax.jit(chex.assert_max_traces(rf.ridge_regression, n=1))
    features, targets = jnp.eye(3), jnp.ones(3)
    for ridges in ([0.0, 1.0], [2.0, 3.0]):
        np.testing.assert_allclose(
            solve(features, targets, jnp.array(ridges)),
            np.outer(1 / (1 + 3 * np.array(ridges)), np.ones(3)),
            rtol=1e-6,
        )
    with pytest.raises(ValueError, match="ridges"):
        rf.ridge_regression(features, targets, jnp.array([-1.0]))
    with pytest.raises(ValueError, match="features, targets"):
        rf.ridge_regression(features, jnp.ones(4), jnp.array([0.0]))
    with pytest.raises(ValueError, match="inputs, weights"):
        rf.random_features(jnp.ones((2, 3)), jnp.ones((4, 2)))
