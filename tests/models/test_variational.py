"""Mean-field VI against exact answers: Gaussian KL/entropy, free-energy identities, and the
exact mean-field fixed point of Bayesian linear regression at several temperatures."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate, stats

from statjax.models.regularizers import GaussianPrior
from statjax.models.variational import (
    MeanFieldDense,
    gaussian_kl,
    init_rho,
    mean_field_cross_entropy,
    mean_field_entropy,
    mean_field_kl,
    rho_from_scale,
    sample_params,
    split_variables,
    variational_free_energy,
)

K_SIGMA = 4.0  # tolerance multiplier on a Monte-Carlo standard error


def _key(seed):
    # The "rbg" generator: statistically as good for these tests, and on the CPU it
    # compiles several times faster than threefry (test time is mostly compilation).
    return jax.random.key(seed, impl="rbg")


# ------------------------------------------------------------------ Gaussian identities

CASES = [(0.3, 0.5, -0.2, 1.5), (1.0, 2.0, 0.0, 1.0), (-2.0, 0.1, 1.0, 0.7)]


@pytest.mark.parametrize(("mean_q", "scale_q", "mean_p", "scale_p"), CASES)
def test_gaussian_kl_against_quadrature_and_monte_carlo(mean_q, scale_q, mean_p, scale_p):
    q, p = stats.norm(mean_q, scale_q), stats.norm(mean_p, scale_p)
    quadrature, _ = integrate.quad(
        lambda w: q.pdf(w) * (q.logpdf(w) - p.logpdf(w)),
        mean_q - 12 * scale_q,
        mean_q + 12 * scale_q,
    )
    value = float(gaussian_kl(mean_q, scale_q, mean_p, scale_p))
    np.testing.assert_allclose(value, quadrature, rtol=1e-5, atol=1e-7)
    draws = q.rvs(size=100_000, random_state=np.random.default_rng(0))
    log_ratio = q.logpdf(draws) - p.logpdf(draws)
    stderr = log_ratio.std(ddof=1) / np.sqrt(draws.size)  # Monte-Carlo error of the mean
    assert abs(log_ratio.mean() - value) < K_SIGMA * stderr


def _tree(seed):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(size=(3, 2)).astype(np.float32),
        "b": rng.normal(size=4).astype(np.float32),
    }


def test_mean_field_entropy_cross_entropy_and_kl_against_scipy():
    mean = _tree(0)
    scale = jax.tree_util.tree_map(lambda x: 0.2 + np.abs(x), _tree(1))
    prior = GaussianPrior(precision=2.5)
    mu = np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(mean)])
    sigma = np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(scale)])
    prior_scale = 2.5**-0.5
    entropy = stats.norm(mu, sigma).entropy().sum()
    # E_q[-log p] = -int q log p, per coordinate, by quadrature.
    cross_entropy = sum(
        integrate.quad(
            lambda w, m=m, s=s: -stats.norm.pdf(w, m, s) * stats.norm.logpdf(w, 0, prior_scale),
            m - 12 * s,
            m + 12 * s,
        )[0]
        for m, s in zip(mu, sigma, strict=True)
    )
    values = jax.jit(  # one compilation instead of many eager ones
        lambda mean, scale: (
            mean_field_entropy(scale),
            mean_field_cross_entropy(mean, scale, prior),
            mean_field_kl(mean, scale, prior),
        )
    )(mean, scale)
    np.testing.assert_allclose(values[0], entropy, rtol=1e-5)
    np.testing.assert_allclose(values[1], cross_entropy, rtol=1e-5)
    kl = values[2]
    np.testing.assert_allclose(kl, cross_entropy - entropy, rtol=1e-4)
    np.testing.assert_allclose(
        kl, np.sum(np.asarray(gaussian_kl(mu, sigma, 0.0, prior_scale))), rtol=1e-5
    )


# ------------------------------------------------------------------ free-energy identities


def _log_normalizer_tempered_prior(precision, temperature, num_params):
    """``log int p(w)^{1/T} dw`` for ``p = N(0, 1 / lambda)``, per coordinate times ``d``."""
    per_coordinate = np.log(precision / (2 * np.pi)) / (2 * temperature) + 0.5 * np.log(
        2 * np.pi * temperature / precision
    )
    return num_params * per_coordinate


@pytest.mark.parametrize("temperature", [1.0, 0.1, 3.0])
def test_free_energy_decompositions_agree(temperature):
    mean = _tree(2)
    scale = jax.tree_util.tree_map(lambda x: 0.1 + 0.5 * np.abs(x), _tree(3))
    precision, expected_loss, num_params = 0.7, 12.5, 10
    prior = GaussianPrior(precision=precision)

    terms = variational_free_energy(expected_loss, mean, scale, prior, temperature)
    # Energy-entropy form: F = <U> - T S with U = loss - log prior.
    np.testing.assert_allclose(terms.energy, expected_loss + terms.prior_energy, rtol=1e-6)
    np.testing.assert_allclose(terms.free_energy, terms.energy - temperature * terms.entropy, 1e-6)
    np.testing.assert_allclose(terms.kl, terms.prior_energy - terms.entropy, rtol=1e-5)
    # KL form: F = E_q[loss] + T KL(q || p_T) - T log Z_T, p_T = p^{1/T} / Z_T = N(0, T / lambda).
    tempered_kl = mean_field_kl(mean, scale, GaussianPrior(precision=precision / temperature))
    log_z = _log_normalizer_tempered_prior(precision, temperature, num_params)
    np.testing.assert_allclose(
        terms.free_energy,
        expected_loss + temperature * tempered_kl - temperature * log_z,
        rtol=1e-5,
    )

    # Tempering the KL term only: F = E_q[loss] + T KL(q || p) = <loss - T log p> - T S.
    likelihood = variational_free_energy(
        expected_loss, mean, scale, prior, temperature, tempering="likelihood"
    )
    np.testing.assert_allclose(
        likelihood.free_energy, expected_loss + temperature * terms.kl, rtol=1e-5
    )
    np.testing.assert_allclose(
        likelihood.free_energy, likelihood.energy - temperature * likelihood.entropy, rtol=1e-6
    )
    if temperature == 1.0:  # the negative ELBO, whichever way it is tempered
        np.testing.assert_allclose(terms.free_energy, expected_loss + terms.kl, rtol=1e-6)
        np.testing.assert_allclose(terms.free_energy, likelihood.free_energy, rtol=1e-6)


def test_temperature_is_traced_and_may_be_a_schedule():
    mean, scale = _tree(4), jax.tree_util.tree_map(lambda x: 0.3 + np.abs(x), _tree(5))
    prior = GaussianPrior(precision=1.0)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def free_energy(temperature):
        return variational_free_energy(1.0, mean, scale, prior, temperature).free_energy

    schedule = optax.linear_schedule(0.0, 1.0, transition_steps=10)
    for step in (0, 3, 10):
        expected = variational_free_energy(1.0, mean, scale, prior, schedule, step=step)
        np.testing.assert_allclose(free_energy(schedule(step)), expected.free_energy, rtol=1e-6)
        np.testing.assert_allclose(expected.temperature, step / 10)
    with pytest.raises(ValueError, match="step"):
        variational_free_energy(1.0, mean, scale, prior, schedule)
    with pytest.raises(ValueError, match="temperature"):
        variational_free_energy(1.0, mean, scale, prior, -1.0)
    with pytest.raises(ValueError, match="tempering"):
        variational_free_energy(1.0, mean, scale, prior, 1.0, tempering="prior")


# ------------------------------------------------------------------ the Flax layer


class _Net(nn.Module):
    """Two layers, named as an nn.Dense twin would name them."""

    dense: type = MeanFieldDense

    @nn.compact
    def __call__(self, x, deterministic=False):
        kwargs = {"deterministic": deterministic} if self.dense is MeanFieldDense else {}
        hidden = jnp.tanh(self.dense(5, name="Dense_0")(x, **kwargs))
        return self.dense(2, name="Dense_1")(hidden, **kwargs)


def test_local_reparameterisation_has_the_exact_preactivation_moments():
    layer = MeanFieldDense(features=3, init_scale=0.3)
    x = np.random.default_rng(6).normal(size=(2, 4)).astype(np.float32)
    num_draws = 20_000

    @jax.jit
    def moments_and_draws(key):
        variables = layer.init(_key(7), x)
        mean, scale = split_variables(variables)
        exact_mean = x @ mean["kernel"] + mean["bias"]
        exact_variance = jnp.square(x) @ jnp.square(scale["kernel"]) + jnp.square(scale["bias"])
        deterministic = layer.apply(variables, x, deterministic=True)
        keys = jax.random.split(key, num_draws)
        draws = jax.vmap(lambda k: layer.apply(variables, x, rngs={"variational": k}))(keys)
        # The same law from whole weight draws (plain reparameterisation).
        weights = jax.vmap(sample_params, (0, None, None))(keys, mean, scale)
        weight_draws = jax.vmap(lambda w: x @ w["kernel"] + w["bias"])(weights)
        return exact_mean, exact_variance, deterministic, draws, weight_draws

    exact_mean, exact_variance, deterministic, *samplings = moments_and_draws(_key(8))
    np.testing.assert_allclose(deterministic, exact_mean, 1e-6)
    for samples in samplings:
        samples = np.asarray(samples, np.float64)
        # stderr(mean) = sqrt(var / n); stderr(variance) = var sqrt(2 / n) for a Gaussian.
        mean_stderr = np.sqrt(exact_variance / num_draws)
        variance_stderr = exact_variance * np.sqrt(2 / num_draws)
        np.testing.assert_array_less(np.abs(samples.mean(0) - exact_mean), K_SIGMA * mean_stderr)
        np.testing.assert_array_less(
            np.abs(samples.var(0) - exact_variance), K_SIGMA * variance_stderr
        )


def test_means_are_a_drop_in_parameter_set_for_the_deterministic_twin():
    x = np.random.default_rng(9).normal(size=(4, 3)).astype(np.float32)
    twin = _Net(dense=nn.Dense)

    @jax.jit
    def outputs():
        variables = _Net().init(_key(10), x)
        twin_params = twin.init(_key(11), x)["params"]
        chex.assert_trees_all_equal_shapes(twin_params, variables["params"])
        return (
            variables,
            _Net().apply(variables, x, deterministic=True),
            twin.apply({"params": variables["params"]}, x),
        )

    variables, mean_field, deterministic = outputs()
    np.testing.assert_allclose(mean_field, deterministic, rtol=1e-6)
    np.testing.assert_allclose(
        jax.tree.leaves(split_variables(variables)[1])[0], 1e-3 * np.ones((5,)), rtol=1e-4
    )


def test_bad_variables_and_scales_name_the_problem():
    with pytest.raises(ValueError, match="rho"):
        split_variables({"params": {"w": jnp.zeros(2)}})
    with pytest.raises(ValueError, match="structure"):
        split_variables({"params": {"w": jnp.zeros(2)}, "rho": {"v": jnp.zeros(2)}})
    with pytest.raises(ValueError, match="scale"):
        rho_from_scale(0.0)
    rho = init_rho({"w": jnp.zeros(2)}, 0.5)
    np.testing.assert_allclose(jax.nn.softplus(rho["w"]), [0.5, 0.5], rtol=1e-6)


# ------------------------------------------------------------------ Bayesian linear regression

NOISE_VARIANCE = 0.5
PRIOR_PRECISION = 2.0


def _regression(orthogonal: bool):
    rng = np.random.default_rng(12)
    if orthogonal:  # X^T X diagonal: the posterior factorises and mean-field VI is exact
        design = np.linalg.qr(rng.normal(size=(20, 3)))[0] * np.array([2.0, 3.0, 5.0])
    else:
        design = rng.normal(size=(20, 3)) @ np.array([[1, 0.8, 0], [0, 1, 0.6], [0, 0, 1.0]])
    targets = design @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=NOISE_VARIANCE**0.5, size=20)
    return design.astype(np.float32), targets.astype(np.float32)


@jax.jit
def _fit_mean_field(design, targets, temperature, temper_likelihood):
    """Minimise F over (mu, rho); exact E_q[loss] = sum((y - x mu)^2 + x^2 sigma^2) / (2 s^2).

    ``temper_likelihood`` is traced (both forms computed, one kept), so that every
    case of this file shares one compiled program.
    """
    model = MeanFieldDense(features=1, use_bias=False, init_scale=0.5)
    variables = model.init(_key(13), design)
    prior = GaussianPrior(precision=PRIOR_PRECISION)

    def free_energy(variables):
        mean, scale = split_variables(variables)
        predictions = model.apply(variables, design, deterministic=True)[:, 0]
        variance = jnp.square(design) @ jnp.square(scale["kernel"][:, 0])
        expected_loss = jnp.sum(jnp.square(targets - predictions) + variance) / (2 * NOISE_VARIANCE)
        forms = [
            variational_free_energy(
                expected_loss, mean, scale, prior, temperature, tempering=tempering
            ).free_energy
            for tempering in ("posterior", "likelihood")
        ]
        return jnp.where(temper_likelihood, forms[1], forms[0])

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(free_energy)

    def step(carry, _):
        variables, state = carry
        value, grad = value_and_grad(variables, state=state)
        updates, state = solver.update(
            grad, state, variables, value=value, grad=grad, value_fn=free_energy
        )
        return (optax.apply_updates(variables, updates), state), None

    (variables, _), _ = jax.lax.scan(step, (variables, solver.init(variables)), length=150)
    gradient_norm = optax.tree.norm(jax.grad(free_energy)(variables))
    mean, scale = split_variables(variables)
    return mean["kernel"][:, 0], jnp.square(scale["kernel"][:, 0]), gradient_norm


def _exact_posterior(design, targets, temperature, tempering):
    """Mean, precision of exp(-U / T) ("posterior") or p(D | w)^{1/T} p(w) ("likelihood")."""
    design, targets = np.asarray(design, np.float64), np.asarray(targets, np.float64)
    likelihood_scale = 1.0 / temperature if tempering == "likelihood" else 1.0
    precision = likelihood_scale * design.T @ design / NOISE_VARIANCE + PRIOR_PRECISION * np.eye(3)
    mean = np.linalg.solve(precision, likelihood_scale * design.T @ targets / NOISE_VARIANCE)
    if tempering == "posterior":
        precision = precision / temperature
    return mean, precision


@pytest.mark.parametrize("orthogonal", [True, False])
def test_mean_field_fixed_point_of_bayesian_linear_regression(orthogonal):
    design, targets = _regression(orthogonal)
    variances = {}
    for temperature in (1.0, 0.25, 2.0):
        mean, variance, gradient_norm = _fit_mean_field(design, targets, temperature, False)
        assert gradient_norm < 1e-3  # the optimiser reached the stationary point
        exact_mean, precision = _exact_posterior(design, targets, temperature, "posterior")
        np.testing.assert_allclose(mean, exact_mean, rtol=1e-4, atol=1e-5)
        # Mean field matches the diagonal of the precision, 1 / Lambda_ii ...
        np.testing.assert_allclose(variance, 1.0 / np.diag(precision), rtol=1e-3)
        # ... which is the marginal variance only when the posterior factorises.
        marginal = np.diag(np.linalg.inv(precision))
        if orthogonal:
            np.testing.assert_allclose(variance, marginal, rtol=1e-3)
        else:
            assert np.all(marginal > 1.1 * variance)
        variances[temperature] = np.asarray(variance, np.float64)
    # The temperature scales every variance by T exactly (the mean does not move).
    np.testing.assert_allclose(variances[0.25], 0.25 * variances[1.0], rtol=1e-3)
    np.testing.assert_allclose(variances[2.0], 2.0 * variances[1.0], rtol=1e-3)


def test_tempering_the_kl_term_only_targets_the_tempered_likelihood():
    design, targets = _regression(orthogonal=False)
    temperature = 0.25
    mean, variance, gradient_norm = _fit_mean_field(design, targets, temperature, True)
    assert gradient_norm < 1e-3
    exact_mean, precision = _exact_posterior(design, targets, temperature, "likelihood")
    np.testing.assert_allclose(mean, exact_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(variance, 1.0 / np.diag(precision), rtol=1e-3)


def test_legacy_and_typed_keys_give_the_same_draw():
    mean, scale = _tree(0), jax.tree.map(jnp.ones_like, _tree(0))
    draws = [sample_params(key, mean, scale) for key in (jax.random.PRNGKey(2), jax.random.key(2))]
    chex.assert_trees_all_equal(*draws)
