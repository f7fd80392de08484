"""The VIB's bounds against exact mutual informations of Gaussian channels.

X ~ N(0, s_x^2) and Z = a X + sigma eps. Jointly Gaussian (Z, X) has
I(Z; X) = 1/2 log(1 + a^2 s_x^2 / sigma^2); with Y = c X + tau eta, jointly Gaussian
(Y, Z) has I(Z; Y) = -1/2 log(1 - rho^2). For a discrete Y = 1[X > 0],
p(y = 1 | z) = Phi(kappa z) and I(Z; Y) = log 2 - E_z h(Phi(kappa z)) by
Gauss-Hermite quadrature. Each Monte-Carlo estimate is compared with the exact value
(minus the exact gap of the bound) within K_SIGMA standard errors, the standard
error computed from the same samples.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from statjax.models import information_bottleneck as ib

K_SIGMA = 4.0  # tolerance in Monte-Carlo standard errors
NUM_DRAWS = 20_000
SIGNAL_STD, GAIN, NOISE_STD = 1.5, 0.8, 0.6  # s_x, a, sigma


def _gaussian_kl(variance_p, variance_q):
    """KL(N(0, v_p) || N(0, v_q)) in nats."""
    ratio = variance_p / variance_q
    return 0.5 * (ratio - 1.0 - np.log(ratio))


def _channel_draws(seed):
    rng = np.random.default_rng(seed)
    x = SIGNAL_STD * rng.standard_normal(NUM_DRAWS)
    return x, GAIN * x + NOISE_STD * rng.standard_normal(NUM_DRAWS)


def _exact_information_zx():
    return 0.5 * np.log1p((GAIN * SIGNAL_STD / NOISE_STD) ** 2)


def test_kl_upper_bound_is_exact_at_the_true_marginal_and_loose_by_its_kl_otherwise():
    x, _ = _channel_draws(0)
    mean, std = (GAIN * x)[:, None], np.full((NUM_DRAWS, 1), NOISE_STD)
    marginal_variance = (GAIN * SIGNAL_STD) ** 2 + NOISE_STD**2
    exact = _exact_information_zx()
    for marginal_std, gap in [
        (np.sqrt(marginal_variance), 0.0),  # r(z) = p(z): the bound is an equality
        (1.0, _gaussian_kl(marginal_variance, 1.0)),  # r = N(0, 1): loose by KL(p(z) || r)
        (3.0, _gaussian_kl(marginal_variance, 9.0)),
    ]:
        kl = np.asarray(ib.gaussian_kl_divergence(mean, std, marginal_std), np.float64)
        stderr = kl.std(ddof=1) / np.sqrt(NUM_DRAWS)
        assert abs(kl.mean() - (exact + gap)) < K_SIGMA * stderr + 1e-5, (marginal_std, kl.mean())
        assert kl.mean() >= exact - K_SIGMA * stderr
    # The upper bound is strict for r = N(0, 1): the gap is many standard errors.
    assert _gaussian_kl(marginal_variance, 1.0) > 10 * stderr


def test_decoder_lower_bound_for_gaussian_y_is_exact_for_the_bayes_decoder_only():
    x, z = _channel_draws(1)
    coupling, label_noise = 1.2, 0.9  # Y = c X + tau eta
    y = coupling * x + label_noise * np.random.default_rng(101).standard_normal(NUM_DRAWS)
    variance_z = (GAIN * SIGNAL_STD) ** 2 + NOISE_STD**2
    variance_y = (coupling * SIGNAL_STD) ** 2 + label_noise**2
    covariance = GAIN * coupling * SIGNAL_STD**2
    rho2 = covariance**2 / (variance_y * variance_z)
    exact = -0.5 * np.log1p(-rho2)
    entropy_y = 0.5 * np.log(2 * np.pi * np.e * variance_y)  # differential entropy of Y
    best_slope, best_variance = covariance / variance_z, variance_y * (1 - rho2)
    for slope, variance in [
        (best_slope, best_variance),
        (0.5 * best_slope, best_variance),
        (best_slope, 2.0 * best_variance),
        (0.0, variance_y),  # a decoder that ignores z: bound 0
    ]:
        log_likelihood = -0.5 * (np.log(2 * np.pi * variance) + (y - slope * z) ** 2 / variance)
        bounds = ib.information_bounds(np.zeros(NUM_DRAWS), log_likelihood, entropy_y)
        stderr = log_likelihood.std(ddof=1) / np.sqrt(NUM_DRAWS)
        # Exact gap: E_z KL(N(w* z, v*) || N(w z, v)).
        gap = 0.5 * (
            np.log(variance / best_variance)
            + (best_variance + (best_slope - slope) ** 2 * variance_z) / variance
            - 1.0
        )
        estimate = float(bounds.information_zy_lower)
        assert abs(estimate - (exact - gap)) < K_SIGMA * stderr + 1e-5, (slope, variance)
        assert estimate <= exact + K_SIGMA * stderr


def _probit_channel():
    """Y = 1[X > 0]: p(y = 1 | z) = Phi(kappa z), and z ~ N(0, variance_z)."""
    variance_z = (GAIN * SIGNAL_STD) ** 2 + NOISE_STD**2
    kappa = GAIN * SIGNAL_STD / (NOISE_STD * np.sqrt(variance_z))
    return kappa, variance_z


def _quadrature(function, variance_z, num_nodes=200):
    """E_{z ~ N(0, variance_z)} function(z) by Gauss-Hermite (probabilists') quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    return np.sum(weights * function(np.sqrt(variance_z) * nodes)) / np.sqrt(2 * np.pi)


def _bernoulli_entropy(p):
    return -special.xlogy(p, p) - special.xlogy(1 - p, 1 - p)


def _exact_information_zy_binary():
    kappa, variance_z = _probit_channel()
    conditional_entropy = _quadrature(
        lambda z: _bernoulli_entropy(special.ndtr(kappa * z)), variance_z
    )
    return np.log(2) - conditional_entropy


def test_quadrature_value_of_binary_information_matches_the_bayes_decoder_bound():
    x, z = _channel_draws(2)
    y = x > 0
    kappa, _ = _probit_channel()
    log_likelihood = np.where(y, special.log_ndtr(kappa * z), special.log_ndtr(-kappa * z))
    bounds = ib.information_bounds(np.zeros(NUM_DRAWS), log_likelihood, np.log(2.0))
    stderr = log_likelihood.std(ddof=1) / np.sqrt(NUM_DRAWS)
    exact = _exact_information_zy_binary()
    assert 0.1 < exact < np.log(2)
    assert abs(float(bounds.information_zy_lower) - exact) < K_SIGMA * stderr


def _linear_vib_params(slope, bias):
    """Params of VIB(latent_dim=1, num_classes=2): z = GAIN x + NOISE_STD eps and
    logit1 - logit0 = slope z + bias (built directly: an eager init is slow to compile)."""
    std_bias = np.log(np.expm1(NOISE_STD)) + 5.0  # softplus(b - 5) = sigma
    return {
        "encoder": {
            "mean": {"kernel": jnp.full((1, 1), GAIN), "bias": jnp.zeros(1)},
            "std": {"kernel": jnp.zeros((1, 1)), "bias": jnp.full((1,), std_bias)},
        },
        "decoder_output": {"kernel": jnp.array([[0.0, slope]]), "bias": jnp.array([0.0, bias])},
    }


def test_linear_vib_params_have_the_module_structure():
    model = ib.VIB(latent_dim=1, num_classes=2)
    params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 1)))["params"]
    expected = jax.tree.map(lambda leaf: (leaf.shape, leaf.dtype), params)
    actual = jax.tree.map(lambda leaf: (leaf.shape, leaf.dtype), _linear_vib_params(1.0, 0.0))
    assert actual == expected


def test_vib_bounds_on_a_gaussian_channel_with_binary_labels_match_exact_values():
    model = ib.VIB(latent_dim=1, num_classes=2)
    x, _ = _channel_draws(3)
    inputs, labels = jnp.asarray(x[:, None], jnp.float32), jnp.asarray(x > 0, jnp.int32)
    kappa, variance_z = _probit_channel()
    exact_zx, exact_zy = _exact_information_zx(), _exact_information_zy_binary()
    key = jax.random.key(4)
    loss_fn = jax.jit(chex.assert_max_traces(ib.vib_loss, n=1), static_argnums=(0, 7))
    for slope, bias in [(1.7 * kappa, 0.0), (0.5 * kappa, 0.3), (4.0 * kappa, -0.2)]:
        params = _linear_vib_params(slope, bias)
        loss, bounds = loss_fn(model, params, inputs, labels, key, 0.01, np.log(2.0), 1)
        # Per-example values, same draws, for the standard errors.
        noise = np.asarray(jax.random.normal(key, (1, NUM_DRAWS, 1)), np.float64)[0, :, 0]
        z = GAIN * x + NOISE_STD * noise
        logit = slope * z + bias
        log_likelihood = -np.logaddexp(0.0, np.where(x > 0, -logit, logit))
        stderr_zy = log_likelihood.std(ddof=1) / np.sqrt(NUM_DRAWS)

        # Exact gap of the lower bound: E_z KL(Bern(Phi(kappa z)) || Bern(sigmoid(w z + b))).
        def divergence(z, slope=slope, bias=bias):
            # In logs: the outer quadrature nodes have p and q within rounding of 0 or 1.
            logit = slope * z + bias
            log_p, log_not_p = special.log_ndtr(kappa * z), special.log_ndtr(-kappa * z)
            log_q, log_not_q = special.log_expit(logit), special.log_expit(-logit)
            return np.exp(log_p) * (log_p - log_q) + np.exp(log_not_p) * (log_not_p - log_not_q)

        gap_zy = _quadrature(divergence, variance_z)
        zy = float(bounds.information_zy_lower)
        assert abs(zy - (exact_zy - gap_zy)) < K_SIGMA * stderr_zy + 1e-4, (slope, zy, exact_zy)
        assert zy <= exact_zy + K_SIGMA * stderr_zy
        # Upper bound: exact I(Z; X) plus KL(p(z) || N(0, 1)).
        kl = 0.5 * ((GAIN * x) ** 2 + NOISE_STD**2 - 1.0) - np.log(NOISE_STD)
        stderr_zx = kl.std(ddof=1) / np.sqrt(NUM_DRAWS)
        expected_zx = exact_zx + _gaussian_kl(variance_z, 1.0)
        assert abs(float(bounds.information_zx_upper) - expected_zx) < K_SIGMA * stderr_zx + 1e-4
        assert float(loss) == pytest.approx(
            float(bounds.cross_entropy + 0.01 * bounds.information_zx_upper), rel=1e-6
        )


def test_label_entropy_and_predictions():
    labels = np.array([0, 0, 0, 1, 2, 2])
    probs = np.array([3, 1, 2]) / 6
    assert float(ib.label_entropy(labels, 3)) == pytest.approx(-np.sum(probs * np.log(probs)))
    assert float(ib.label_entropy(labels, 5)) == pytest.approx(-np.sum(probs * np.log(probs)))
    # A deterministic code (sigma -> 0) and a decisive decoder: predictions are one-hot.
    model = ib.VIB(latent_dim=1, num_classes=2)
    params = _linear_vib_params(100.0, 0.0)
    params["encoder"]["std"]["bias"] = jnp.full((1,), -30.0)
    probs = ib.predictive_probabilities(
        model, params, jnp.array([[-1.0], [1.0]]), jax.random.key(0), num_samples=3
    )
    np.testing.assert_allclose(probs, [[1.0, 0.0], [0.0, 1.0]], atol=1e-6)


def test_bad_input_names_the_argument():
    model = ib.VIB(latent_dim=1, num_classes=2)
    params = _linear_vib_params(1.0, 0.0)
    x, y = jnp.ones((2, 1)), jnp.array([0, 1])
    with pytest.raises(ValueError, match="bottleneck_weight"):
        ib.vib_loss(model, params, x, y, jax.random.key(0), -1.0, 0.5)
    with pytest.raises(ValueError, match="num_samples"):
        ib.vib_loss(model, params, x, y, jax.random.key(0), 1.0, 0.5, num_samples=0)
    with pytest.raises(ValueError, match="labels"):
        ib.label_entropy(np.array([0, 3]), 3)
    with pytest.raises(TypeError, match="labels"):
        ib.label_entropy(np.array([0.0, 1.0]), 3)


def test_legacy_and_typed_keys_give_the_same_numbers():
    model = ib.VIB(latent_dim=1, num_classes=2)
    params = _linear_vib_params(1.0, 0.0)
    x, y = jnp.array([[-1.0], [0.5]]), jnp.array([0, 1])
    keys = (jax.random.PRNGKey(5), jax.random.key(5))
    losses = [ib.vib_loss(model, params, x, y, key, 0.1, 0.5, num_samples=4)[0] for key in keys]
    probs = [ib.predictive_probabilities(model, params, x, key, num_samples=4) for key in keys]
    np.testing.assert_array_equal(*losses)
    np.testing.assert_array_equal(*probs)
