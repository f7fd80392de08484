"""RBMs against exact answers: brute-force sums over (v, h), enumeration, AIS, Gibbs."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

import statjax
from statjax.models import rbm
from statjax.samplers.tempering import tempering_statistics

# One optimizer object for the training tests: it is a static argument of the
# jitted epoch, so sharing it (and the shapes) lets the tests share compilations.
SGD = optax.sgd(0.1, momentum=0.5)
ADAM = optax.adam(0.02)


def _binary_table(n: int) -> np.ndarray:
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _random_rbm(seed, num_visible, num_hidden, scale=1.0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return rbm.RBMParams(
        scale * jax.random.normal(k1, (num_visible, num_hidden)),
        0.5 * jax.random.normal(k2, (num_visible,)),
        0.5 * jax.random.normal(k3, (num_hidden,)),
    )


def _random_gaussian_rbm(seed, num_visible, num_hidden):
    params = _random_rbm(seed, num_visible, num_hidden, scale=0.7)
    log_sigma = 0.3 * jax.random.normal(jax.random.key(seed + 100), (num_visible,))
    return rbm.GaussianRBMParams(*params, log_sigma)


def _joint_log_weights(params, beta=1.0):
    """``-beta E(v, h)`` on the full table of a binary RBM, ``(2^V, 2^H)``, in float64."""
    num_visible, num_hidden = params.weights.shape
    v, h = _binary_table(num_visible), _binary_table(num_hidden)
    w, b, c = (np.asarray(x, np.float64) for x in params)
    return beta * (v @ b)[:, None] + beta * (h @ c)[None, :] + beta * v @ w @ h.T


def _exact_visible_marginal(params, beta=1.0):
    log_weights = _joint_log_weights(params, beta)
    marginal = np.exp(log_weights - log_weights.max()).sum(1)
    return marginal / marginal.sum()


def test_energy_and_free_energy_match_brute_force_sum_over_hidden():
    params = _random_rbm(0, 5, 4)
    v, h = _binary_table(5), _binary_table(4)
    log_weights = _joint_log_weights(params)
    energies = np.asarray(rbm.energy(params, v[:, None, :], h[None, :, :]))
    np.testing.assert_allclose(energies, -log_weights, rtol=1e-5, atol=1e-5)
    expected = -np.logaddexp.reduce(log_weights, axis=1)
    np.testing.assert_allclose(rbm.free_energy(params, v), expected, rtol=1e-5, atol=1e-5)


def test_gaussian_free_energy_matches_brute_force_sum_over_hidden():
    params = _random_gaussian_rbm(1, 3, 4)
    v = np.asarray(jax.random.normal(jax.random.key(5), (7, 3)))
    h = _binary_table(4)
    energies = np.asarray(rbm.energy(params, v[:, None, :], h[None, :, :]), np.float64)
    expected = -np.logaddexp.reduce(-energies, axis=1)
    np.testing.assert_allclose(rbm.free_energy(params, v), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("beta", [1.0, 0.4])
def test_tempered_conditionals_match_the_joint_table(beta):
    params = _random_rbm(2, 4, 3)
    joint = np.exp(_joint_log_weights(params, beta))
    v, h = _binary_table(4), _binary_table(3)
    # p(h_j = 1 | v) and p(v_i = 1 | h) from the normalised rows / columns of the table.
    p_h = (joint / joint.sum(1, keepdims=True)) @ h
    p_v = (joint / joint.sum(0, keepdims=True)).T @ v
    np.testing.assert_allclose(rbm.hidden_probabilities(params, v, beta), p_h, atol=1e-5)
    np.testing.assert_allclose(rbm.visible_mean(params, h, beta), p_v, atol=1e-5)


@pytest.mark.parametrize("shape", [(5, 4), (4, 6)], ids=["enumerate-hidden", "enumerate-visible"])
def test_exact_log_z_matches_brute_force_over_all_states(shape):
    params = _random_rbm(3, *shape)
    expected = np.logaddexp.reduce(_joint_log_weights(params).ravel())
    np.testing.assert_allclose(rbm.exact_log_z(params, chunk_size=8), expected, rtol=1e-5)


def test_gaussian_exact_log_z_matches_quadrature():
    params = _random_gaussian_rbm(4, 2, 3)
    grid = np.linspace(-12.0, 12.0, 801)
    mesh = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    log_density = -np.asarray(rbm.free_energy(params, mesh), np.float64)
    log_z = np.logaddexp.reduce(log_density) + 2 * np.log(grid[1] - grid[0])
    np.testing.assert_allclose(rbm.exact_log_z(params), log_z, rtol=1e-5)


def test_pseudo_log_likelihood_matches_exact_conditionals():
    params = _random_rbm(6, 4, 3)
    p = _exact_visible_marginal(params)
    table = _binary_table(4)
    index = {tuple(row): i for i, row in enumerate(table)}
    expected = []
    for row in table:
        total = 0.0
        for i in range(4):
            flipped = row.copy()
            flipped[i] = 1 - flipped[i]
            total += np.log(
                p[index[tuple(row)]] / (p[index[tuple(row)]] + p[index[tuple(flipped)]])
            )
        expected.append(total)
    np.testing.assert_allclose(
        rbm.pseudo_log_likelihood(params, table), np.mean(expected), rtol=1e-5
    )


def test_block_gibbs_samples_the_exact_tempered_marginal():
    """4000 independent chains per beta after 40 sweeps: a multinomial sample of p_beta(v).

    Pearson's chi-square over the 16 visible states, rejected at p < 1e-3 (fixed seed);
    at beta the visible marginal of exp(-beta E) is that of the RBM with params * beta.
    """
    params = _random_rbm(7, 4, 3)
    num_chains = 4000
    betas = np.repeat([1.0, 0.5], num_chains)
    kernel = rbm.block_gibbs(params)
    final, _ = statjax.run_chains(
        kernel, jax.random.key(0), jnp.zeros((2 * num_chains, 4)), 40, beta=betas
    )
    codes = np.asarray(final.position.visible) @ (2 ** np.arange(3, -1, -1))
    for half, beta in enumerate([1.0, 0.5]):
        counts = np.bincount(
            codes[half * num_chains : (half + 1) * num_chains].astype(int), minlength=16
        )
        expected = num_chains * _exact_visible_marginal(params, beta)
        chi2 = np.sum((counts - expected) ** 2 / expected)
        assert chi2 < stats.chi2.ppf(1 - 1e-3, df=15), (beta, chi2)
    np.testing.assert_allclose(
        final.energy, rbm.energy(params, final.position.visible, final.position.hidden), atol=1e-5
    )


def test_parallel_tempering_with_the_gibbs_kernel_samples_the_exact_marginal():
    """Replica exchange over (0.3, 0.6, 1) with block Gibbs inside: the cold replica's v."""
    from statjax.samplers.tempering import replica_exchange, state_at_temperature

    params = _random_rbm(15, 4, 3, scale=1.5)
    num_chains = 3000
    pt = replica_exchange(rbm.block_gibbs(params), jnp.array([0.3, 0.6, 1.0]))
    final, _ = statjax.run_chains(pt, jax.random.key(3), jnp.zeros((num_chains, 3, 4)), 30)
    visible = np.asarray(jax.vmap(state_at_temperature)(final).position.visible)
    counts = np.bincount((visible @ (2 ** np.arange(3, -1, -1))).astype(int), minlength=16)
    expected = num_chains * _exact_visible_marginal(params)
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < stats.chi2.ppf(1 - 1e-3, df=15), chi2


def test_statjax_ais_along_beta_with_the_gibbs_kernel_gives_exact_log_z():
    """The generic temperature-path AIS runs on the kernel: at beta = 0, (v, h) is uniform."""
    params = _random_rbm(8, 6, 4)
    num_chains = 256
    key_v, key_h = jax.random.split(jax.random.key(1))
    initial = rbm.RBMConfiguration(
        jax.random.bernoulli(key_v, 0.5, (num_chains, 6)).astype(jnp.float32),
        jax.random.bernoulli(key_h, 0.5, (num_chains, 4)).astype(jnp.float32),
    )
    result = statjax.thermo.ais(
        rbm.block_gibbs(params), jax.random.key(2), initial, jnp.linspace(1e-4, 1.0, 300) ** 2,
        base_log_z=10 * np.log(2.0),
    )  # fmt: skip
    # betas[0] = 1e-8, not 0: log Z(1e-8) = 10 log 2 up to ~1e-7.
    error = abs(float(result.log_z) - float(rbm.exact_log_z(params)))
    assert error < 3 * float(result.standard_error) + 1e-3, (error, result.standard_error)


def test_base_rate_ais_log_z_within_three_standard_errors_and_a_tenth_of_a_nat():
    """Salakhutdinov & Murray's AIS on a 20 x 16 RBM with strong weights."""
    params = _random_rbm(9, 20, 16, scale=0.5)
    data = (jax.random.uniform(jax.random.key(3), (100, 20)) < 0.3).astype(jnp.float32)
    result = rbm.ais_log_z(
        jax.random.key(4), params, rbm.base_rate_visible_bias(data),
        betas=rbm.ais_betas(scale=0.2), num_chains=100,
    )  # fmt: skip
    exact = float(rbm.exact_log_z(params))
    error = abs(float(result.log_z) - exact)
    assert float(result.standard_error) < 0.05
    assert error < 3 * float(result.standard_error) + 1e-3, (error, result.standard_error)
    assert error < 0.1


def _toy_data(key, num_examples):
    """Noisy copies (10% bit flips) of three 8-bit prototypes."""
    prototypes = jnp.array(
        [[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]], jnp.float32
    )
    key_choice, key_flip = jax.random.split(key)
    rows = prototypes[jax.random.randint(key_choice, (num_examples,), 0, 3)]
    flips = jax.random.bernoulli(key_flip, 0.1, rows.shape)
    return jnp.abs(rows - flips.astype(jnp.float32))


@pytest.mark.parametrize("method", ["cd1", "pcd1", "pt1"])
def test_training_increases_exact_test_log_likelihood(method):
    train = _toy_data(jax.random.key(10), 256)
    test = _toy_data(jax.random.key(11), 256)
    params = rbm.init_rbm(jax.random.key(12), 8, 6, visible_bias=rbm.base_rate_visible_bias(train))
    before = float(rbm.log_likelihood(params, test))
    state, history = rbm.train_rbm(
        jax.random.key(13), params, train, SGD,
        num_epochs=20, batch_size=32, persistent=method == "pcd1",
        ladder=jnp.array([0.4, 0.7, 1.0]) if method == "pt1" else None,
    )  # fmt: skip
    after = float(rbm.log_likelihood(state.params, test))
    # Base-rate model: ~ -5.5 nats; a model of the three prototypes: ~ -4.4.
    assert after > before + 0.5, (before, after)
    assert history[-1].reconstruction_error < history[0].reconstruction_error
    assert (state.chains is not None) == (method != "cd1")
    if method == "pt1":  # the replicas swap: every neighbouring pair accepted some swaps
        statistics = tempering_statistics(state.chains, state.ladder)
        assert bool(jnp.all(statistics.rejection_rates < 0.9)), statistics.rejection_rates


def test_training_step_does_not_recompile_for_new_parameters():
    data = _toy_data(jax.random.key(0), 32)
    sizes = []
    for seed in range(3):
        state = rbm.init_training(rbm.init_rbm(jax.random.key(seed), 8, 6), SGD)
        rbm.training_step(state, jax.random.key(seed), data, SGD)
        sizes.append(rbm.training_step._cache_size())
    assert sizes[0] == sizes[-1], sizes


def test_gaussian_rbm_gibbs_visible_mean_matches_mixture_mean():
    """E[v] = sum_h p(h) (b + W h), p(h) ∝ exp(c.h + sum_i ((Wh)_i^2 + 2 b_i (Wh)_i) / 2 s_i^2)."""
    params = _random_gaussian_rbm(14, 3, 4)
    h = _binary_table(4)
    w, b, c, log_sigma = (np.asarray(x, np.float64) for x in params)
    wh = h @ w.T
    log_p = h @ c + np.sum((wh**2 + 2 * b * wh) / (2 * np.exp(2 * log_sigma)), -1)
    p_h = np.exp(log_p - np.logaddexp.reduce(log_p))
    expected = p_h @ (b + wh)
    num_chains = 4000
    final, _ = statjax.run_chains(
        rbm.block_gibbs(params), jax.random.key(5), jnp.zeros((num_chains, 3)), 60
    )
    visible = np.asarray(final.position.visible, np.float64)
    stderr = visible.std(0, ddof=1) / np.sqrt(num_chains)
    np.testing.assert_array_less(np.abs(visible.mean(0) - expected), 4 * stderr)


@pytest.mark.parametrize("learn_sigma", [False, True])
def test_gaussian_rbm_training_learns_or_keeps_the_variances(learn_sigma):
    data = 2.0 + 0.3 * jax.random.normal(jax.random.key(0), (64, 3))
    params = rbm.init_rbm(jax.random.key(1), 3, 4, gaussian=True, weight_scale=0.1)
    state, _ = rbm.train_rbm(
        jax.random.key(2), params, data, ADAM,
        num_epochs=10, batch_size=16, learn_sigma=learn_sigma,
    )  # fmt: skip
    changed = not np.allclose(state.params.log_sigma, params.log_sigma)
    assert changed == learn_sigma
    assert float(rbm.log_likelihood(state.params, data)) > float(rbm.log_likelihood(params, data))


def test_dbn_greedy_training_and_ancestral_samples():
    data = _toy_data(jax.random.key(0), 128)
    layers = rbm.train_dbn(jax.random.key(1), data, [6, 4], SGD, num_epochs=3, batch_size=32)
    assert [p.weights.shape for p in layers] == [(8, 6), (6, 4)]
    samples = rbm.sample_dbn(jax.random.key(2), layers, 10, num_gibbs_steps=20)
    assert samples.shape == (10, 8)
    assert bool(jnp.all((samples >= 0) & (samples <= 1)))


def test_bad_arguments_are_named():
    params = _random_rbm(0, 30, 30)
    with pytest.raises(ValueError, match="limit"):
        rbm.exact_log_z(params)
    with pytest.raises(ValueError, match="base_visible_bias"):
        rbm.ais_log_z(jax.random.key(0), params, jnp.zeros(3))
    with pytest.raises(ValueError, match="batch_size"):
        rbm.train_rbm(
            jax.random.key(0), params, jnp.zeros((4, 30)), optax.sgd(0.1),
            num_epochs=1, batch_size=8,
        )  # fmt: skip


# ------------------------------------------- the kernel contract, keys, driver, optimizers


def test_block_gibbs_info_follows_the_contract_and_refuses_non_finite_updates():
    params = _random_rbm(0, 4, 3)
    kernel = rbm.block_gibbs(params)
    state = kernel.init(jnp.ones(4))
    np.testing.assert_allclose(state.energy, rbm.energy(params, jnp.ones(4), jnp.zeros(3)))
    new, info = kernel.step(jax.random.key(0), state, 1.0)
    assert float(info.acceptance_rate) == 1.0 and bool(info.is_accepted)
    np.testing.assert_allclose(
        new.energy, rbm.energy(params, new.position.visible, new.position.hidden), atol=1e-5
    )
    broken = rbm.block_gibbs(params._replace(hidden_bias=jnp.full(3, jnp.nan)))
    stuck, info = broken.step(jax.random.key(0), state, 1.0)
    assert float(info.acceptance_rate) == 0.0 and not bool(info.is_accepted)
    np.testing.assert_array_equal(stuck.position.visible, state.position.visible)


def test_block_gibbs_at_zero_temperature_descends_and_ties_keep_the_current_unit():
    """beta = inf: each half-sweep takes the lower-energy layer, so E never rises."""
    params = _random_rbm(1, 6, 5)
    _, energies = statjax.run_chains(
        rbm.block_gibbs(params), jax.random.key(2), jnp.zeros((16, 6)), 10,
        beta=jnp.inf, observe=lambda state: state.energy,
    )  # fmt: skip
    assert bool(jnp.all(jnp.diff(energies, axis=0) <= 1e-5))
    # All-zero parameters: every logit is a tie, so the chain never moves.
    flat = rbm.block_gibbs(jax.tree_util.tree_map(jnp.zeros_like, params))
    start = rbm.RBMConfiguration(jnp.ones(6), jnp.array([1.0, 0.0, 1.0, 0.0, 1.0]))
    state, _ = flat.step(jax.random.key(3), flat.init(start), jnp.inf)
    np.testing.assert_array_equal(state.position.visible, start.visible)
    np.testing.assert_array_equal(state.position.hidden, start.hidden)


def test_pcd_sweeps_are_the_drivers_global_steps():
    """Update t advances the chains by sample_chains' steps t k .. t k + k - 1 (one key)."""
    data = _toy_data(jax.random.key(0), 32)
    params = rbm.init_rbm(jax.random.key(1), 8, 6, weight_scale=0.5)
    state = rbm.init_training(params, SGD, data[:8])._replace(step=jnp.asarray(5, jnp.int32))
    key = jax.random.key(2)
    new, _ = rbm.training_step(state, key, data, SGD, num_gibbs_steps=3)
    expected, _ = statjax.run_chains(rbm.block_gibbs(params), key, data[:8], 3, start_step=15)
    np.testing.assert_array_equal(new.chains, expected.position.visible)


@pytest.mark.parametrize("method", ["cd1", "pcd2", "pt1"])
def test_training_resumed_from_a_saved_state_repeats_the_uninterrupted_run(method):
    data = _toy_data(jax.random.key(0), 64)
    params = rbm.init_rbm(jax.random.key(1), 8, 6)
    settings = dict(
        batch_size=16, num_gibbs_steps=2 if method == "pcd2" else 1,
        persistent=method == "pcd2", ladder=jnp.array([0.5, 1.0]) if method == "pt1" else None,
    )  # fmt: skip
    key = jax.random.PRNGKey(3)  # a legacy key: the same numbers as jax.random.key(3)
    whole, history = rbm.train_rbm(key, params, data, SGD, num_epochs=4, **settings)
    saved = []
    rbm.train_rbm(
        jax.random.key(3), params, data, SGD, num_epochs=2,
        callback=lambda epoch, state, metrics: saved.append((epoch, state)), **settings,
    )  # fmt: skip
    assert [epoch for epoch, _ in saved] == [0, 1]
    epochs = []
    resumed, rest = rbm.train_rbm(
        key, saved[-1][1], data, SGD, num_epochs=2,
        callback=lambda epoch, state, metrics: epochs.append(epoch), **settings,
    )  # fmt: skip
    assert epochs == [2, 3] and int(resumed.step) == 16
    jax.tree_util.tree_map(np.testing.assert_array_equal, resumed, whole)
    jax.tree_util.tree_map(np.testing.assert_array_equal, rest[-1], history[-1])


def test_resuming_mid_epoch_or_with_other_chains_is_refused():
    data = _toy_data(jax.random.key(0), 64)
    state = rbm.init_training(rbm.init_rbm(jax.random.key(1), 8, 6), SGD, data[:4])
    with pytest.raises(ValueError, match="epoch boundary"):
        rbm.train_rbm(jax.random.key(0), state._replace(step=jnp.asarray(3)), data, SGD,
                      num_epochs=1, batch_size=16)  # fmt: skip
    with pytest.raises(ValueError, match="num_chains"):
        rbm.train_rbm(jax.random.key(0), state, data, SGD, num_epochs=1, batch_size=16,
                      num_chains=8)  # fmt: skip


def test_a_sweep_over_tunable_learning_rates_compiles_once():
    """A tunable optimizer is traced: new learning rates reuse the compiled epoch."""
    from statjax.models.rbm import training

    data = _toy_data(jax.random.key(0), 64)
    params = rbm.init_rbm(jax.random.key(1), 8, 5)
    results, sizes = [], []
    for learning_rate in (0.05, 0.1, 0.2):
        optimizer = statjax.optim.tunable(optax.sgd, learning_rate=learning_rate, momentum=0.5)
        state, _ = rbm.train_rbm(jax.random.key(2), params, data, optimizer,
                                 num_epochs=2, batch_size=16, persistent=True)  # fmt: skip
        results.append(state.params.weights)
        sizes.append(training._train_epoch.jitted._cache_size())
    assert sizes[0] == sizes[-1], sizes
    # The numbers are those of the plain optax optimizer with the same rate.
    plain, _ = rbm.train_rbm(jax.random.key(2), params, data, optax.sgd(0.2, momentum=0.5),
                             num_epochs=2, batch_size=16, persistent=True)  # fmt: skip
    np.testing.assert_allclose(results[-1], plain.params.weights, rtol=1e-5, atol=1e-6)
    # training_step alike.
    before = rbm.training_step._cache_size()
    for learning_rate in (0.3, 0.4):
        optimizer = statjax.optim.tunable(optax.sgd, learning_rate=learning_rate)
        rbm.training_step(rbm.init_training(params, optimizer), jax.random.key(0), data, optimizer)
    assert rbm.training_step._cache_size() <= before + 1


def test_legacy_and_typed_keys_give_the_same_numbers():
    params = _random_rbm(3, 6, 4)
    betas = jnp.linspace(0.0, 1.0, 20)
    typed = rbm.ais_log_z(jax.random.key(5), params, betas=betas, num_chains=8)
    legacy = rbm.ais_log_z(jax.random.PRNGKey(5), params, betas=betas, num_chains=8)
    np.testing.assert_array_equal(typed.log_weights, legacy.log_weights)
    layers = [params]
    np.testing.assert_array_equal(
        rbm.sample_dbn(jax.random.key(1), layers, 4, num_gibbs_steps=5),
        rbm.sample_dbn(jax.random.PRNGKey(1), layers, 4, num_gibbs_steps=5),
    )
    np.testing.assert_array_equal(
        rbm.init_rbm(jax.random.key(7), 3, 2).weights,
        rbm.init_rbm(jax.random.PRNGKey(7), 3, 2).weights,
    )


def test_counts_must_be_whole_numbers():
    params = _random_rbm(0, 6, 4)
    data = jnp.zeros((16, 6))
    with pytest.raises(ValueError, match="num_gibbs_steps"):
        rbm.train_rbm(jax.random.key(0), params, data, SGD, num_epochs=1, batch_size=8,
                      num_gibbs_steps=2.5)  # fmt: skip
    with pytest.raises(ValueError, match="num_epochs"):
        rbm.train_rbm(jax.random.key(0), params, data, SGD, num_epochs=1.5, batch_size=8)
    with pytest.raises(ValueError, match="num_hidden"):
        rbm.init_rbm(jax.random.key(0), 6, 2.5)
    with pytest.raises(ValueError, match="num_chains"):
        rbm.ais_log_z(jax.random.key(0), params, num_chains=2.5)
