"""Deep EBMs against exact answers: Gaussian moments, closed-form log Z, hand-computed MMD."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.tree_util import Partial

import statjax
from statjax.models import ebm
from statjax.pytree import guarded_jit

# A correlated 2-D Gaussian: the "known density" of the training tests.
MEAN = np.array([0.5, -0.3])
COVARIANCE = np.array([[1.0, 0.6], [0.6, 0.8]])


def _gaussian_data(seed: int, num: int) -> jax.Array:
    chol = np.linalg.cholesky(COVARIANCE)
    return jnp.asarray(MEAN + np.random.default_rng(seed).standard_normal((num, 2)) @ chol.T)


def _gaussian_log_density(x, mean, covariance) -> np.ndarray:
    centred = np.asarray(x, np.float64) - mean
    precision = np.linalg.inv(covariance)
    quadratic = np.einsum("ni,ij,nj->n", centred, precision, centred)
    return -0.5 * quadratic - math.log(2 * math.pi) - 0.5 * math.log(np.linalg.det(covariance))


class QuadraticEnergy(nn.Module):
    """``E(x) = (x - m)^T A (x - m) / 2 + c`` with ``A`` the symmetric part of a free matrix."""

    @nn.compact
    def __call__(self, x):
        mean = self.param("mean", nn.initializers.zeros, (2,))
        matrix = self.param("matrix", lambda key, shape: jnp.eye(2), (2, 2))
        offset = self.param("offset", nn.initializers.zeros, ())
        centred = x - mean
        precision = 0.5 * (matrix + matrix.T)
        return 0.5 * jnp.einsum("...i,ij,...j->...", centred, precision, centred) + offset


QUADRATIC = ebm.energy_function(QuadraticEnergy())


def _precision(params) -> np.ndarray:
    return 0.5 * np.asarray(params["matrix"] + params["matrix"].T, np.float64)


# ------------------------------------------------------------------ short runs


def test_short_run_chains_follow_the_driver_key_rule_for_any_key_and_step_count():
    # Step t of chain c draws from split(fold_in(key, t), chains)[c], as run_chains does;
    # a traced step count (a fori_loop of one-step driver calls) draws the same numbers.
    kernel = statjax.mala(lambda x: 0.5 * jnp.sum(x**2), 0.3)
    starts = jax.random.normal(jax.random.key(3), (16, 2))
    short_runs = guarded_jit(ebm.short_run_chains, static_argnames=("num_steps", "beta"))
    ours, rate = short_runs(kernel, jax.random.key(1), starts, num_steps=7, beta=2.0)
    expected, acceptance = statjax.run_chains(
        kernel, jax.random.key(1), starts, 7, beta=2.0,
        observe=lambda state, info: info.acceptance_rate,
    )  # fmt: skip
    np.testing.assert_array_equal(ours.position, expected.position)
    np.testing.assert_allclose(float(rate), float(jnp.mean(acceptance)), rtol=1e-6)
    traced, traced_rate = jax.jit(
        lambda n: ebm.short_run_chains(kernel, jax.random.key(1), starts, n, beta=2.0)
    )(7)
    np.testing.assert_array_equal(traced.position, ours.position)
    np.testing.assert_allclose(float(traced_rate), float(rate), rtol=1e-6)
    legacy, _ = short_runs(kernel, jax.random.PRNGKey(1), starts, num_steps=7, beta=2.0)
    np.testing.assert_array_equal(legacy.position, ours.position)
    unmoved, no_rate = ebm.short_run_chains(kernel, jax.random.key(1), starts, 0)
    np.testing.assert_array_equal(unmoved.position, starts)
    assert np.isnan(float(no_rate))
    with pytest.raises(ValueError, match="num_steps"):
        ebm.short_run_chains(kernel, jax.random.key(1), starts, 2.5)


def test_contrastive_divergence_negatives_are_short_runs_from_the_update_key():
    # Update t's negatives: the replay starts and the chains of split(fold_in(key, t), 4),
    # the chains then following the driver's rule; they land in buffer slots t * n + i.
    params = {"mean": jnp.zeros(2), "matrix": jnp.eye(2), "offset": jnp.zeros(())}
    optimizer = optax.sgd(1e-2)
    state = ebm.init_training(jax.random.PRNGKey(4), params, optimizer, buffer_size=32,
                              event_shape=(2,))  # fmt: skip
    typed = ebm.init_training(jax.random.key(4), params, optimizer, buffer_size=32,
                              event_shape=(2,))  # fmt: skip
    np.testing.assert_array_equal(state.buffer, typed.buffer)  # any key: the same numbers
    state = state._replace(step=jnp.asarray(3, jnp.int32))
    sampler = Partial(statjax.samplers.du_mordatch_langevin, step_size=0.05, noise_scale=0.1)
    settings = ebm.ContrastiveDivergenceSettings(num_sampling_steps=4, reinit_prob=0.5)
    batch = _gaussian_data(5, 8)

    def update(state, batch):
        return ebm.contrastive_divergence_step(
            state, batch, energy_fn=QUADRATIC, sampler=sampler, optimizer=optimizer,
            settings=settings,
        )  # fmt: skip

    new_state, _ = jax.jit(update)(state, batch)

    @jax.jit
    def expected(state):
        _, key_buffer, key_chains, _ = jax.random.split(jax.random.fold_in(state.key, 3), 4)
        starts, _ = ebm.sample_replay_buffer(key_buffer, state.buffer, 8, 0.5)
        kernel = sampler(QUADRATIC.bind(state.params))
        return ebm.short_run_chains(kernel, key_chains, starts, 4)[0].position

    final = expected(state)
    slots = (3 * 8 + np.arange(8)) % 32
    np.testing.assert_allclose(np.asarray(new_state.buffer)[slots], final, rtol=1e-6)


# ----------------------------------------------------------------- replay buffer


def test_replay_buffer_reinitialises_at_the_requested_rate():
    reinit_prob, batch_size, num_draws = 0.05, 512, 40
    # Buffer rows are 10 + row index: outside the noise box [-1, 1], so a fresh start is
    # recognised by its value, not by the returned mask.
    buffer = 10.0 + jnp.repeat(jnp.arange(300.0)[:, None], 2, axis=1)
    keys = jax.random.split(jax.random.key(0), num_draws)
    starts, is_fresh = jax.jit(
        jax.vmap(lambda key: ebm.sample_replay_buffer(key, buffer, batch_size, reinit_prob))
    )(keys)
    starts = np.asarray(starts).reshape(-1, 2)
    fresh = np.all(np.abs(starts) <= 1.0, axis=1)
    from_buffer = ~fresh
    np.testing.assert_array_equal(fresh, np.asarray(is_fresh).ravel())
    # Slots that are not fresh are whole buffer rows.
    rows = starts[from_buffer, 0] - 10.0
    np.testing.assert_array_equal(rows, np.round(rows))
    np.testing.assert_array_equal(starts[from_buffer, 0], starts[from_buffer, 1])
    # Binomial count: n p fresh slots expected, standard deviation sqrt(n p (1 - p)).
    n = fresh.size
    expected, stddev = n * reinit_prob, math.sqrt(n * reinit_prob * (1 - reinit_prob))
    assert abs(fresh.sum() - expected) < 4 * stddev, (fresh.sum(), expected, stddev)


# ---------------------------------------------------------------------------- MMD


def test_mmd_matches_a_hand_computation():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    y = np.array([[1.0, 1.0], [2.0, 0.5], [-1.0, 0.0], [0.5, -0.5]])
    bandwidth = 0.8

    def k(a, b):
        return math.exp(-np.sum((a - b) ** 2) / (2 * bandwidth**2))

    xx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (3 * 2)
    yy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (4 * 3)
    xy = sum(k(a, b) for a in x for b in y) / (3 * 4)
    result = ebm.mmd_squared(jnp.asarray(x), jnp.asarray(y), bandwidth)
    np.testing.assert_allclose(float(result), xx + yy - 2 * xy, rtol=1e-5)
    pooled = np.concatenate([x, y])
    distances = [np.linalg.norm(a - b) for i, a in enumerate(pooled) for b in pooled[i + 1 :]]
    np.testing.assert_allclose(float(ebm.median_bandwidth(x, y)), np.median(distances), rtol=1e-5)
    with pytest.raises(ValueError, match="bandwidth"):
        ebm.mmd_squared(x, y, bandwidth=0.0)


def test_unbiased_mmd_has_zero_mean_under_the_null():
    # With the median-heuristic bandwidth too: it is a symmetric function of the pooled
    # sample, so under the null the points stay exchangeable and the mean stays 0.
    num_repeats, size = 400, 30
    keys = jax.random.split(jax.random.key(7), num_repeats)

    def one(key, shift):
        x, y = jax.random.normal(key, (2, size, 2))
        return ebm.mmd_squared(x, y + shift)

    repeats = jax.jit(jax.vmap(one, in_axes=(0, None)))  # one compilation for both shifts
    values = {shift: np.asarray(repeats(keys, shift), np.float64) for shift in (0.0, 0.5)}
    null = values[0.0]
    # Tolerance: 4 Monte-Carlo standard errors of the mean over independent repeats.
    stderr = null.std(ddof=1) / math.sqrt(num_repeats)
    assert abs(null.mean()) < 4 * stderr, (null.mean(), stderr)
    # ...and the statistic does see a shift of half a standard deviation.
    assert values[0.5].mean() > 4 * values[0.5].std(ddof=1) / math.sqrt(num_repeats)


# -------------------------------------------------------------- grid likelihood


def test_grid_log_likelihood_of_a_gaussian_energy_net_is_exact():
    precision = np.linalg.inv(COVARIANCE)
    params = {"mean": jnp.asarray(MEAN), "matrix": jnp.asarray(precision), "offset": 1.7}
    points = _gaussian_data(3, 50)
    log_likelihoods, log_z = ebm.grid_log_likelihood(
        QUADRATIC.bind(params), points, [-7.0, -7.0], [7.0, 7.0], 201
    )
    # Z = 2 pi det(P)^(-1/2) exp(-c) for E = (x - m)^T P (x - m) / 2 + c.
    exact_log_z = math.log(2 * math.pi) + 0.5 * math.log(np.linalg.det(COVARIANCE)) - 1.7
    np.testing.assert_allclose(float(log_z), exact_log_z, atol=2e-5)
    exact = _gaussian_log_density(points, MEAN, COVARIANCE)
    np.testing.assert_allclose(np.asarray(log_likelihoods), exact, atol=1e-4)
    with pytest.raises(ValueError, match="data"):
        ebm.grid_log_likelihood(QUADRATIC.bind(params), jnp.zeros((3, 3)), [-1, -1], [1, 1], 11)


# ----------------------------------------------------------------------- training


def test_score_matching_recovers_the_smoothed_gaussian_precision():
    # DSM's optimum is the score of p * N(0, s^2 I) (Vincent 2011): for Gaussian data a
    # quadratic energy learns the precision (Sigma + s^2 I)^-1, and its mean.
    noise_scale, num = 0.5, 4000
    data = _gaussian_data(0, num)
    params = QUADRATIC.module.init(jax.random.key(0), jnp.zeros(2))["params"]
    optimizer = optax.adam(optax.cosine_decay_schedule(0.05, 1500))
    state = ebm.init_training(jax.random.key(1), params, optimizer)
    state, metrics = ebm.train_score_matching(
        state, data, energy_fn=QUADRATIC, optimizer=optimizer, num_steps=1500,
        batch_size=1000, noise_scale=noise_scale,
    )  # fmt: skip
    smoothed = COVARIANCE + noise_scale**2 * np.eye(2)
    target = np.linalg.inv(smoothed)
    learned = _precision(state.params)
    # Standard error from the sample size: the learned precision is the inverse of the
    # data's covariance plus s^2 I, so dP = -P dS P; with Var(S_ij) the Wishart variance,
    # Var(P_ab) = [(P Sigma P)_aa (P Sigma P)_bb + (P Sigma P)_ab^2] / n.
    sandwich = target @ COVARIANCE @ target
    stderr = np.sqrt((np.outer(np.diag(sandwich), np.diag(sandwich)) + sandwich**2) / num)
    assert np.all(np.abs(learned - target) < 4 * stderr), (learned, target, stderr)
    # The s^2 bias is resolved: the unsmoothed precision is far outside the error bars.
    assert np.any(np.abs(learned - np.linalg.inv(COVARIANCE)) > 10 * stderr)
    mean_stderr = np.sqrt(np.diag(COVARIANCE) / num)
    assert np.all(np.abs(np.asarray(state.params["mean"]) - MEAN) < 4 * mean_stderr)
    assert np.all(np.isnan(metrics.energy_samples))


def test_contrastive_divergence_reaches_the_true_test_log_likelihood():
    train, test = _gaussian_data(0, 2000), _gaussian_data(1, 2000)
    energy = ebm.energy_function(ebm.EnergyMLP(hidden_sizes=(32, 32)))
    params = energy.module.init(jax.random.key(2), jnp.zeros(2))["params"]
    optimizer = optax.adam(5e-3, b1=0.0, b2=0.999)  # Du & Mordatch: beta1 = 0
    state = ebm.init_training(
        jax.random.key(3), params, optimizer, buffer_size=2000, event_shape=(2,),
        noise_low=-4.0, noise_high=4.0,
    )  # fmt: skip
    settings = ebm.ContrastiveDivergenceSettings(
        num_sampling_steps=10, regularization=0.0, noise_low=-4.0, noise_high=4.0
    )
    # MALA at beta = 1 samples the model's own law, so the learned exp(-E) is a density.
    first = dict(energy_fn=energy, optimizer=optimizer, num_steps=75, batch_size=256)
    state, _ = ebm.train_contrastive_divergence(
        state, train, sampler=Partial(statjax.mala, step_size=0.1), settings=settings, **first
    )
    compiled = ebm.training._train_cd._cache_size()
    # A new step size and new settings are traced leaves: no recompilation.
    state, metrics = ebm.train_contrastive_divergence(
        state, train, sampler=Partial(statjax.mala, step_size=0.08),
        settings=settings._replace(reinit_prob=0.04), **first,
    )  # fmt: skip
    assert ebm.training._train_cd._cache_size() == compiled
    assert int(state.step) == 150
    assert np.all(np.asarray(metrics.acceptance_rate) > 0.8)
    # The last update wrote its 256 chains into buffer slots (149 * 256 + i) % 2000.
    slots = (149 * 256 + np.arange(256)) % 2000
    assert np.all(np.isfinite(np.asarray(state.buffer)[slots]))
    log_likelihoods, _ = ebm.grid_log_likelihood(
        energy.bind(state.params), test, [-6.0, -6.0], [6.0, 6.0], 121
    )
    gap = _gaussian_log_density(test, MEAN, COVARIANCE) - np.asarray(log_likelihoods, np.float64)
    stderr = gap.std(ddof=1) / math.sqrt(gap.size)
    # Measured: gap 0.009 nats (standard error 0.0025); the bound is 0.05 nats. The
    # gap estimates KL(data || model) >= 0, so it cannot be below -4 standard errors.
    assert -4 * stderr < gap.mean() < 0.05, (gap.mean(), stderr)


def test_a_sweep_over_tunable_learning_rates_compiles_once():
    # tunable(optax.adam, ...) is a pytree whose numbers are leaves: traced, not static.
    energy = ebm.energy_function(ebm.EnergyMLP(hidden_sizes=(4,)))
    params = energy.module.init(jax.random.key(0), jnp.zeros(2))["params"]
    data = _gaussian_data(2, 64)
    sampler = Partial(statjax.ula, step_size=0.05)
    settings = ebm.ContrastiveDivergenceSettings(num_sampling_steps=2)

    def train_cd(optimizer):
        state = ebm.init_training(jax.random.key(1), params, optimizer, buffer_size=16,
                                  event_shape=(2,))  # fmt: skip
        return ebm.train_contrastive_divergence(
            state, data, energy_fn=energy, sampler=sampler, optimizer=optimizer, num_steps=2,
            batch_size=8, settings=settings,
        )  # fmt: skip

    def train_dsm(optimizer):
        state = ebm.init_training(jax.random.key(1), params, optimizer)
        return ebm.train_score_matching(
            state, data, energy_fn=energy, optimizer=optimizer, num_steps=2, batch_size=8,
            noise_scale=0.3,
        )  # fmt: skip

    for train, compiled in (
        (train_cd, ebm.training._train_cd),
        (train_dsm, ebm.training._train_dsm),
    ):
        before = compiled._cache_size()
        losses = []
        for learning_rate in (1e-3, 3e-3, 1e-2):
            _, metrics = train(statjax.optim.tunable(optax.adam, learning_rate=learning_rate,
                                                         b1=0.0))  # fmt: skip
            losses.append(np.asarray(metrics.loss))
        assert compiled._cache_size() == before + 1
    # The traced optimizer is optax's: the same numbers as a (static) plain one.
    _, plain = train_dsm(optax.adam(1e-2, b1=0.0))
    np.testing.assert_allclose(losses[-1], plain.loss, rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_named():
    energy = ebm.energy_function(ebm.EnergyMLP(hidden_sizes=(4,)))
    params = energy.module.init(jax.random.key(0), jnp.zeros(2))["params"]
    optimizer = optax.adam(1e-3)
    state = ebm.init_training(jax.random.key(0), params, optimizer, buffer_size=8,
                              event_shape=(2,))  # fmt: skip
    common = dict(
        energy_fn=energy, optimizer=optimizer, sampler=Partial(statjax.ula, step_size=0.1)
    )
    with pytest.raises(ValueError, match="batch_size=16 exceeds"):
        ebm.train_contrastive_divergence(state, jnp.zeros((20, 2)), num_steps=1, batch_size=16,
                                         **common)  # fmt: skip
    with pytest.raises(ValueError, match="event_shape"):
        ebm.train_contrastive_divergence(state, jnp.zeros((20, 3)), num_steps=1, batch_size=4,
                                         **common)  # fmt: skip
    with pytest.raises(ValueError, match="num_steps"):
        ebm.train_contrastive_divergence(state, jnp.zeros((20, 2)), num_steps=0, batch_size=4,
                                         **common)  # fmt: skip
    with pytest.raises(ValueError, match="buffer_size"):
        ebm.init_training(jax.random.key(0), params, optimizer, buffer_size=-1)
    with pytest.raises(TypeError, match="module"):
        ebm.energy_function(lambda x: x)
