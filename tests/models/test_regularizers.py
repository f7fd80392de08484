"""Regularizers against exact answers: Gaussian log densities, exact Jacobians, noise moments."""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from statjax.models.regularizers import (
    Dropout,
    GaussianDropout,
    GaussianNoise,
    GaussianPrior,
    dropout_rate,
    dropout_temperature,
    jacobian_frobenius_norm,
    jacobian_norm_estimate,
    jacobian_regularizer,
)

K_SIGMA = 4.0  # tolerance multiplier on a Monte-Carlo standard error


def _key(seed):
    # The "rbg" generator: statistically as good for these tests, and on the CPU it
    # compiles several times faster than threefry (test time is mostly compilation).
    return jax.random.key(seed, impl="rbg")


# ------------------------------------------------------------------ weight decay as a prior


def _params(seed=0):
    kernel = np.random.default_rng(seed).normal(size=(3, 4)).astype(np.float32)
    return {"dense": {"kernel": kernel, "bias": np.arange(4.0, dtype=np.float32)}}


@pytest.mark.parametrize("precision", [0.5, 3.0])
def test_weight_decay_is_the_negative_gaussian_log_density_up_to_its_constant(precision):
    params = _params()
    prior = GaussianPrior(precision=precision)
    flat = np.concatenate([np.ravel(w) for w in jax.tree_util.tree_leaves(params)])
    exact_log_density = stats.norm.logpdf(flat, 0.0, precision**-0.5).sum()
    np.testing.assert_allclose(prior.log_prob(params), exact_log_density, rtol=1e-6)
    np.testing.assert_allclose(prior.potential(params), 0.5 * precision * np.sum(flat**2), 1e-6)
    # The constant the weight-decay penalty omits: (d / 2) log(2 pi / lambda), d = 16.
    np.testing.assert_allclose(
        prior.log_normalizer(params), 8.0 * np.log(2 * np.pi / precision), rtol=1e-6
    )
    np.testing.assert_allclose(
        -prior.potential(params) - prior.log_normalizer(params), exact_log_density, rtol=1e-6
    )


def test_per_layer_precision_and_scale():
    params = _params()
    precision = {"dense": {"kernel": 2.0, "bias": 0.25}}
    prior = GaussianPrior(precision=precision)
    expected = stats.norm.logpdf(np.ravel(params["dense"]["kernel"]), 0, 2.0**-0.5).sum()
    expected += stats.norm.logpdf(np.asarray(params["dense"]["bias"]), 0, 2.0).sum()
    np.testing.assert_allclose(prior.log_prob(params), expected, rtol=1e-6)
    scale = prior.scale(params)
    np.testing.assert_allclose(scale["dense"]["bias"], np.full(4, 2.0))
    assert scale["dense"]["kernel"].shape == (3, 4)


def test_a_new_precision_does_not_recompile():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def log_prob(prior, params):
        return prior.log_prob(params)

    params = _params()
    for precision in (0.5, 1.0, 4.0):
        value = log_prob(GaussianPrior(precision=jnp.float32(precision)), params)
        np.testing.assert_allclose(value, GaussianPrior(precision=precision).log_prob(params), 1e-6)


@pytest.mark.parametrize("precision", [0.0, -1.0, float("nan")])
def test_bad_precision_names_the_argument(precision):
    with pytest.raises(ValueError, match="precision"):
        GaussianPrior(precision=precision)


# ------------------------------------------------------------------ Jacobian regularization


class _TanhNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        hidden = jnp.tanh(nn.Dense(6, name="first")(x))
        return nn.Dense(4, name="second")(hidden)


@functools.cache
def _network():
    model = _TanhNet()
    x = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    variables = jax.jit(model.init)(_key(2), x)
    return model, variables, x


def _analytic_frobenius(variables, x):
    """``J = W2^T diag(1 - tanh^2(W1^T x + b1)) W1^T`` written out by hand."""
    params = jax.tree.map(np.asarray, variables["params"])
    first, second = params["first"], params["second"]
    hidden = np.tanh(np.asarray(x) @ first["kernel"] + first["bias"])
    norms = []
    for row in 1.0 - hidden**2:
        jacobian = second["kernel"].T @ np.diag(row) @ first["kernel"].T
        norms.append(np.sum(jacobian**2))
    return np.array(norms)


def test_exact_frobenius_norm_matches_the_hand_written_jacobian():
    model, variables, x = _network()
    exact = jax.jit(jacobian_frobenius_norm, static_argnums=0)(
        lambda v: model.apply(variables, v), x
    )
    np.testing.assert_allclose(exact, _analytic_frobenius(variables, x), rtol=1e-5)


@pytest.mark.parametrize("projection", ["sphere", "gaussian"])
def test_projection_estimator_is_unbiased(projection):
    model, variables, x = _network()
    exact = _analytic_frobenius(variables, x)
    num_projections = 2000
    keys = jax.random.split(_key(3), num_projections)
    # One projection per draw, so the draws are independent and their spread is the
    # single-projection estimator's standard deviation.
    draws = jax.jit(
        jax.vmap(
            lambda key: jacobian_norm_estimate(
                key, lambda v: model.apply(variables, v), x, 1, projection
            )
        )
    )(keys)
    draws = np.asarray(draws, np.float64)
    stderr = draws.std(axis=0, ddof=1) / np.sqrt(num_projections)  # Monte-Carlo error
    np.testing.assert_array_less(np.abs(draws.mean(axis=0) - exact), K_SIGMA * stderr)
    # Averaging n projections inside one call is the same estimator with variance / n.
    averaged = jax.jit(
        lambda key: jacobian_norm_estimate(
            key, lambda v: model.apply(variables, v), x, num_projections, projection
        )
    )(keys[0])
    np.testing.assert_array_less(np.abs(np.asarray(averaged) - exact), K_SIGMA * stderr * 1.5)


def test_regularizer_is_half_the_batch_mean_and_differentiable():
    model, variables, x = _network()
    key = _key(4)

    def penalty(variables):
        return jacobian_regularizer(key, lambda v: model.apply(variables, v), x, 2)

    estimates = jax.jit(
        lambda variables: jacobian_norm_estimate(key, lambda v: model.apply(variables, v), x, 2)
    )(variables)
    value, grads = jax.jit(jax.value_and_grad(penalty))(variables)
    np.testing.assert_allclose(value, 0.5 * np.mean(estimates), rtol=1e-6)
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
    assert any(np.any(g != 0) for g in jax.tree_util.tree_leaves(grads))


def test_jacobian_bad_arguments():
    model, variables, x = _network()

    def apply_fn(v):
        return model.apply(variables, v)

    with pytest.raises(ValueError, match="num_projections"):
        jacobian_norm_estimate(_key(0), apply_fn, x, 0)
    with pytest.raises(ValueError, match="projection"):
        jacobian_norm_estimate(_key(0), apply_fn, x, 1, "rademacher")
    with pytest.raises(ValueError, match="apply_fn"):
        jacobian_norm_estimate(_key(0), lambda v: apply_fn(v).sum(-1), x, 1)


# ------------------------------------------------------------------ noise layers

NUM_DRAWS = 200_000


def _relative_noise(layer, temperature, key, collection):
    """Draws of ``y / x - 1`` (multiplicative layers) at ``x = 2``."""
    x = jnp.full((NUM_DRAWS,), 2.0)
    y = layer.apply({}, x, temperature, rngs={collection: key})
    return np.asarray(y / x - 1.0, np.float64)


def _check_mean_and_variance(draws, variance, fourth_central_moment):
    """Mean 0 and variance ``variance``, within K_SIGMA Monte-Carlo standard errors.

    stderr(mean) = sqrt(variance / n); stderr(mean z^2) = sqrt((mu_4 - sigma^4) / n).
    """
    n = draws.size
    assert abs(draws.mean()) < K_SIGMA * np.sqrt(variance / n)
    # The mean is known (0), so the variance estimate is mean(z^2), with exactly this stderr.
    variance_stderr = np.sqrt((fourth_central_moment - variance**2) / n)
    assert abs(np.mean(draws**2) - variance) < K_SIGMA * variance_stderr


@pytest.mark.parametrize("temperature", [0.1, 1.5])
def test_gaussian_noise_has_variance_temperature(temperature):
    x = jnp.full((NUM_DRAWS,), 3.0)
    y = GaussianNoise().apply({}, x, temperature, rngs={"noise": _key(5)})
    _check_mean_and_variance(np.asarray(y - x, np.float64), temperature, 3 * temperature**2)


@pytest.mark.parametrize("temperature", [0.1, 1.5])
def test_gaussian_dropout_has_variance_temperature_times_x_squared(temperature):
    draws = _relative_noise(GaussianDropout(), temperature, _key(6), "noise")
    _check_mean_and_variance(draws, temperature, 3 * temperature**2)


@pytest.mark.parametrize("temperature", [0.25, 3.0])
def test_dropout_has_variance_temperature_times_x_squared(temperature):
    draws = _relative_noise(Dropout(), temperature, _key(7), "dropout")
    keep = 1.0 / (1.0 + temperature)
    # y / x - 1 is (1 - q) / q with probability q and -1 otherwise: exact fourth moment.
    fourth = keep * ((1 - keep) / keep) ** 4 + (1 - keep)
    _check_mean_and_variance(draws, temperature, fourth)
    np.testing.assert_allclose(np.mean(draws == -1.0), dropout_rate(temperature), atol=0.01)


@pytest.mark.parametrize(
    ("layer", "collection"),
    [(GaussianNoise(), "noise"), (GaussianDropout(), "noise"), (Dropout(), "dropout")],
)
def test_noise_layers_are_identity_when_deterministic_or_cold(layer, collection):
    x = np.random.default_rng(8).normal(size=(5, 7)).astype(np.float32)
    np.testing.assert_array_equal(layer.apply({}, x, 2.0, deterministic=True), x)
    # T = 0 is a heat bath at zero temperature: no noise at all.
    np.testing.assert_array_equal(layer.apply({}, x, 0.0, rngs={collection: _key(9)}), x)
    with pytest.raises(ValueError, match="temperature"):
        layer.apply({}, x, -0.5, rngs={collection: _key(9)})


def test_noise_temperature_is_traced_and_follows_a_schedule():
    import optax

    schedule = optax.linear_schedule(1.0, 0.0, 4)
    layer = GaussianNoise()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def noisy(x, temperature, key):
        return layer.apply({}, x, temperature, rngs={"noise": key})

    x = jnp.zeros(20_000)
    for step in range(5):
        temperature = schedule(step)
        y = noisy(x, temperature, _key(step))
        # Standard error of a Gaussian sample variance: T sqrt(2 / n).
        tolerance = K_SIGMA * float(temperature) * np.sqrt(2 / x.size)
        assert abs(float(jnp.var(y)) - float(temperature)) <= tolerance


def test_dropout_rate_and_temperature_are_inverse():
    rates = jnp.array([0.0, 0.1, 0.5, 0.9])
    np.testing.assert_allclose(dropout_rate(dropout_temperature(rates)), rates, atol=1e-6)


def test_legacy_and_typed_keys_give_the_same_projections():
    matrix = jnp.array([[1.0, 2.0], [0.0, 3.0]])
    estimates = [
        jacobian_norm_estimate(key, lambda x: x @ matrix.T, jnp.ones((5, 2)), 3)
        for key in (jax.random.PRNGKey(4), jax.random.key(4))
    ]
    np.testing.assert_array_equal(*estimates)
