"""The latent-EBM VAE against a linear-Gaussian model whose every term is known.

Model: ``q(z|x) = N(A x + b, diag s^2)``, ``p(x|z) = N(W z + c, sigma^2 I)`` and the
prior energy ``E_alpha(z) = a |z|^2 / 2``, so ``p_alpha = N(0, I / (1 + a))``,
``log Z_alpha = -(d / 2) log(1 + a)`` and ``p(x) = N(c, W W^T / (1 + a) + sigma^2 I)``.
Statistical checks use fixed seeds and ``K = 4`` standard errors; each says how
its standard error is computed.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.stats import multivariate_normal

from statjax.models import vae
from statjax.thermo.grid import grid_log_z

K = 4.0  # standard errors allowed by every statistical check
LATENT, DATA, SIGMA, A = 2, 3, 0.5, 0.8
W = np.array([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]], np.float32)
C = np.array([0.2, -0.1, 0.4], np.float32)


class LinearEncoder(nn.Module):
    """``(A x + b, exp(log_std))``."""

    @nn.compact
    def __call__(self, x):
        mean = nn.Dense(LATENT)(x)
        log_std = self.param("log_std", nn.initializers.zeros, (LATENT,))
        return mean, jnp.exp(log_std) * jnp.ones_like(mean)


class QuadraticEnergy(nn.Module):
    """``E_alpha(z) = a |z|^2 / 2``."""

    @nn.compact
    def __call__(self, z):
        a = self.param("a", nn.initializers.zeros, ())
        return 0.5 * a * jnp.sum(z**2, -1)


# Jitted once each: op-by-op eager dispatch compiles every small op on its own.
_elbo_terms = jax.jit(vae.elbo_terms, static_argnums=0)
_encode = jax.jit(lambda model, params, x: model.encode(params, x), static_argnums=0)


def _exact_posterior():
    """The exact posterior's precision-weighted map: mean = M (x - c), covariance S."""
    covariance = np.linalg.inv(W.T @ W / SIGMA**2 + (1 + A) * np.eye(LATENT))
    return covariance @ W.T / SIGMA**2, covariance


@pytest.fixture(scope="module")
def linear():
    """The linear-Gaussian VAE; its encoder is the exact posterior's mean-field version."""
    model = vae.latent_ebm_vae(
        LinearEncoder(), nn.Dense(DATA), QuadraticEnergy(), LATENT,
        likelihood="gaussian", observation_scale=SIGMA,
    )  # fmt: skip
    gain, covariance = _exact_posterior()
    params = {
        "encoder": {
            "Dense_0": {"kernel": jnp.asarray(gain.T, jnp.float32),
                        "bias": jnp.asarray(-gain @ C, jnp.float32)},
            "log_std": jnp.asarray(0.5 * np.log(np.diag(covariance)), jnp.float32),
        },
        "decoder": {"kernel": jnp.asarray(W.T), "bias": jnp.asarray(C)},
        "prior": {"a": jnp.asarray(A, jnp.float32)},
    }  # fmt: skip
    x = np.random.default_rng(0).normal(size=(5, DATA)).astype(np.float32)
    return model, params, x


def _hand_terms(params, x, noise):
    """The three ELBO terms by numpy from the same draws."""
    gain = np.asarray(params["encoder"]["Dense_0"]["kernel"])
    mean = x @ gain + np.asarray(params["encoder"]["Dense_0"]["bias"])
    std = np.exp(np.asarray(params["encoder"]["log_std"]))
    z = mean + std * noise  # (K, batch, d)
    residual = x - (z @ W.T + C)
    log_lik = -0.5 * np.sum(residual**2, -1) / SIGMA**2 - DATA * np.log(SIGMA * np.sqrt(2 * np.pi))
    kl = 0.5 * np.sum(std**2 + mean**2 - 1.0 - np.log(std**2), -1)
    energy = 0.5 * A * np.sum(z**2, -1)
    return log_lik, kl, energy


def test_elbo_terms_equal_a_hand_computation(linear):
    model, params, x = linear
    noise = np.random.default_rng(1).normal(size=(4, len(x), LATENT)).astype(np.float32)
    terms = _elbo_terms(model, params, x, noise)
    log_lik, kl, energy = _hand_terms(params, x, noise)
    np.testing.assert_allclose(terms.reconstruction, log_lik.mean(0), rtol=1e-5)
    np.testing.assert_allclose(terms.kl, kl, rtol=1e-5)
    np.testing.assert_allclose(terms.prior_energy, energy.mean(0), rtol=1e-5)
    log_z = -0.5 * LATENT * np.log1p(A)
    np.testing.assert_allclose(
        vae.elbo(terms, log_z), log_lik.mean(0) - kl - energy.mean(0) - log_z, rtol=1e-5
    )


def test_reconstruction_term_matches_its_closed_form_expectation(linear):
    """``E_q log p(x|z) = -D log(sigma sqrt(2 pi)) - (|x - W m - c|^2 + tr(W S W^T)) / 2 sigma^2``.

    Standard error: the spread of the per-draw values over sqrt(#draws) (independent draws).
    """
    model, params, x = linear
    noise = np.random.default_rng(2).normal(size=(4000, len(x), LATENT)).astype(np.float32)
    per_draw, _, _ = _hand_terms(params, x, noise)
    terms = _elbo_terms(model, params, x, noise)
    mean, std = (np.asarray(v) for v in _encode(model, params, x))
    exact = -DATA * np.log(SIGMA * np.sqrt(2 * np.pi)) - (
        np.sum((x - mean @ W.T - C) ** 2, -1) + np.trace(W @ np.diag(std[0] ** 2) @ W.T)
    ) / (2 * SIGMA**2)
    standard_error = per_draw.std(0, ddof=1) / np.sqrt(len(noise))
    assert np.all(np.abs(np.asarray(terms.reconstruction) - exact) < K * standard_error)


def test_prior_log_z_by_monte_carlo_and_ais_against_quadrature(linear):
    """``log Z_alpha`` three ways: closed form = grid quadrature (statjax.thermo.grid), and
    Monte Carlo / AIS within K of their delta-method standard errors (independent draws / chains).
    """
    model, params, _ = linear
    # int exp(-U_alpha) dz = (2 pi)^(d/2) Z_alpha, U_alpha = E_alpha + |z|^2 / 2.
    grid = grid_log_z(model.bind_prior(params), 1.0, [-8.0, -8.0], [8.0, 8.0], 161)
    quadrature = float(grid) - 0.5 * LATENT * np.log(2 * np.pi)
    exact = -0.5 * LATENT * np.log1p(A)
    assert abs(quadrature - exact) < 1e-5
    log_z, standard_error = vae.prior_log_z(model, params, jax.random.key(3), 20_000)
    assert abs(float(log_z) - exact) < K * float(standard_error)
    result = vae.prior_log_z_ais(model, params, jax.random.key(4), 512, 20, 0.3)
    assert abs(float(result.log_z) - exact) < K * float(result.standard_error)

    # A non-quadratic energy (a random leaky-ReLU MLP): the grid is the only reference.
    mlp = vae.latent_ebm_vae(
        LinearEncoder(), nn.Dense(DATA), vae.PriorEnergyMLP((8,)), LATENT, likelihood="gaussian"
    )
    rng = np.random.default_rng(5)  # by hand: a Flax init would cost a compile
    mlp_params = {
        "prior": {
            "Dense_0": {"kernel": rng.normal(size=(LATENT, 8)).astype(np.float32) / 2,
                        "bias": rng.normal(size=8).astype(np.float32) / 2},
            "Dense_1": {"kernel": rng.normal(size=(8, 1)).astype(np.float32) / 2,
                        "bias": np.zeros(1, np.float32)},
        }
    }  # fmt: skip
    grid = grid_log_z(mlp.bind_prior(mlp_params), 1.0, [-8.0, -8.0], [8.0, 8.0], 161)
    quadrature = float(grid) - 0.5 * LATENT * np.log(2 * np.pi)
    log_z, standard_error = vae.prior_log_z(mlp, mlp_params, jax.random.key(6), 20_000)
    assert abs(float(log_z) - quadrature) < K * float(standard_error)
    assert float(standard_error) < 0.05  # the check has teeth


def test_importance_sampled_log_likelihood_matches_the_exact_marginal(linear):
    """``log p(x) = log N(x; c, W W^T / (1 + a) + sigma^2 I)``; the estimate's standard error is
    the delta method's over the K importance weights (independent draws); the Jensen bias
    ``se^2 / 2`` is far below it here.
    """
    model, params, x = linear
    log_z = -0.5 * LATENT * np.log1p(A)
    estimate, standard_error = vae.importance_log_likelihood(
        model, params, x, jax.random.key(7), 2000, log_z
    )
    covariance = W @ W.T / (1 + A) + SIGMA**2 * np.eye(DATA)
    exact = multivariate_normal(C, covariance).logpdf(x)
    assert np.all(np.asarray(standard_error) > 0)
    assert np.all(np.abs(np.asarray(estimate) - exact) < K * np.asarray(standard_error))
    # One importance sample has no standard error: refused.
    with pytest.raises(ValueError, match="num_samples"):
        vae.importance_log_likelihood(model, params, x, jax.random.key(7), 1, log_z)


@pytest.mark.parametrize(
    ("langevin", "step_size"),
    [("mala", 0.4), ("ula", 0.08)],
)
def test_prior_sampler_reaches_the_known_latent_law(linear, langevin, step_size):
    """``U = (1 + a) |z|^2 / 2``: MALA's law is ``N(0, 1 / (1 + a))``; ULA's (time step eps)
    is ``N(0, 2 / (k (2 - eps k)))``, ``k = 1 + a``, exactly (the discretised OU process).
    Chains are independent, so the standard errors of the mean and of the variance are the
    spreads of ``z`` and ``z^2`` over sqrt(#chains) (ESS = #chains).
    """
    model, params, _ = linear
    stiffness = 1.0 + A
    variance = 1.0 / stiffness
    if langevin == "ula":
        variance = 2.0 / (stiffness * (2.0 - step_size * stiffness))
    z = np.asarray(
        vae.sample_prior(model, params, jax.random.key(8), 2000, 60, step_size, langevin=langevin),
        np.float64,
    ).ravel()  # the two coordinates are independent too
    assert abs(z.mean()) < K * z.std() / np.sqrt(z.size)
    assert abs(np.mean(z**2) - variance) < K * np.std(z**2) / np.sqrt(z.size)


def test_elbo_variant_update_is_the_elbo_gradient(linear):
    """With the encoder's draws as posterior samples, ``vae_loss`` has exactly the gradient of
    ``-mean ELBO`` for the encoder and the decoder; for the prior, ``-E_{p_alpha}[dE/da]`` from
    exact prior draws estimates ``d log Z / da = -d / (2 (1 + a))`` (standard error: spread of
    ``|z|^2 / 2`` over sqrt(#draws), independent draws).
    """
    model, params, x = linear
    noise = np.random.default_rng(9).normal(size=(len(x), LATENT)).astype(np.float32)
    prior_draws = np.random.default_rng(10).normal(size=(20_000, LATENT)) / np.sqrt(1 + A)

    def negative_elbo(params):
        log_z = -0.5 * LATENT * jnp.log1p(params["prior"]["a"])
        return -jnp.mean(vae.elbo(vae.elbo_terms(model, params, x, noise[None]), log_z))

    @jax.jit
    def both(params, prior_draws):
        mean, std = model.encode(params, x)
        z_q = mean + std * noise
        loss_grad = jax.grad(vae.vae_loss, has_aux=True)(params, model, x, noise, z_q, prior_draws)[
            0
        ]
        return loss_grad, jax.grad(negative_elbo)(params)

    grads, exact = both(params, prior_draws.astype(np.float32))
    for name in ("encoder", "decoder"):
        for got, want in zip(
            jax.tree_util.tree_leaves(grads[name]), jax.tree_util.tree_leaves(exact[name]),
            strict=True,
        ):  # fmt: skip
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    half_norm = 0.5 * np.sum(prior_draws**2, -1)
    standard_error = half_norm.std(ddof=1) / np.sqrt(len(half_norm))
    assert abs(float(grads["prior"]["a"]) - float(exact["prior"]["a"])) < K * standard_error


def test_arguments_are_checked(linear):
    model, params, x = linear
    with pytest.raises(ValueError, match="likelihood"):
        vae.latent_ebm_vae(LinearEncoder(), nn.Dense(DATA), None, LATENT, likelihood="poisson")
    with pytest.raises(TypeError, match="encoder"):
        vae.latent_ebm_vae(lambda x: x, nn.Dense(DATA), None, LATENT)
    state = vae.init_vae_training(jax.random.key(0), params, optax.sgd(0.1))
    with pytest.raises(ValueError, match="data_dim"):
        vae.train_vae(state, x[0], model=model, optimizer=optax.sgd(0.1), num_steps=1,
                      batch_size=2)  # fmt: skip
    with pytest.raises(ValueError, match="langevin"):
        vae.train_vae(state, x, model=model, optimizer=optax.sgd(0.1), num_steps=1,
                      batch_size=2, langevin="hmc")  # fmt: skip
    gaussian = vae.latent_ebm_vae(LinearEncoder(), nn.Dense(DATA), None, LATENT)
    with pytest.raises(ValueError, match="Gaussian-prior"):
        vae.prior_log_z_ais(gaussian, params, jax.random.key(0), 8, 4, 0.1)
