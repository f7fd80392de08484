"""Hopfield networks: Hebbian couplings, retrieval, exact Boltzmann sampling, T = 0 dynamics."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

import statjax
from statjax.energy.ising import DenseIsing
from statjax.models import hopfield
from statjax.models.hopfield import (
    ags_branch,
    ags_overlap,
    asynchronous_sweep,
    capacity_curve,
    corrupt,
    critical_load,
    hebbian,
    random_patterns,
    retrieval_overlap,
    retrieve,
    synchronous_update,
)

_ALL_STATES_6 = np.array(list(itertools.product([-1, 1], repeat=6)), np.int8)


def test_hebbian_couplings_and_energy_match_a_hand_computation():
    patterns = np.array([[1, 1, -1], [1, -1, 1]])
    # J_ij = (1/3) sum_mu xi_i xi_j, zero diagonal: J_01 = (1 - 1)/3, J_02 = (-1 + 1)/3,
    # J_12 = (-1 - 1)/3.
    expected = np.array([[0, 0, 0], [0, 0, -2], [0, -2, 0]]) / 3.0
    network = hebbian(patterns, fields=np.array([0.5, 0.0, -0.25]))
    np.testing.assert_allclose(network.couplings, expected, rtol=0, atol=1e-7)
    # E(s) = -J_12 s_1 s_2 - h.s at s = (1, 1, 1): 2/3 - 0.25.
    assert float(network(jnp.array([1, 1, 1]))) == pytest.approx(2.0 / 3.0 - 0.25, abs=1e-6)
    # The same energy as the dense Ising model with J, and the local fields f = J s + h.
    dense = DenseIsing(network.couplings, network.fields)
    spins = jnp.array([1, -1, 1], jnp.int8)
    assert float(network(spins)) == pytest.approx(float(dense(spins)), abs=1e-6)
    np.testing.assert_allclose(network.local_fields(spins), dense.local_fields(spins), atol=1e-6)
    # num_patterns stores a prefix only (traced under jit).
    first = hebbian(patterns[:1])
    masked = jax.jit(lambda p, n: hebbian(p, num_patterns=n))(patterns, 1)
    np.testing.assert_array_equal(masked.pattern_products, first.pattern_products)


def test_retrieval_from_fifteen_percent_corrupted_patterns_at_low_load():
    key_patterns, key_cues, key_run = jax.random.split(jax.random.key(0), 3)
    patterns = random_patterns(key_patterns, 5, 100)
    kernel = asynchronous_sweep(hebbian(patterns))  # at beta = inf: the sign rule
    # Four rounds of one cue per pattern (the doctest's shapes), 15 of 100 spins flipped.
    for round_index in range(4):
        cues = corrupt(jax.random.fold_in(key_cues, round_index), patterns, 0.15)
        np.testing.assert_allclose(jnp.diagonal(retrieval_overlap(patterns, cues)), 0.7, atol=1e-6)
        final, _ = statjax.run_chains(
            kernel, jax.random.fold_in(key_run, round_index), cues, 5, beta=math.inf
        )
        overlaps = jnp.diagonal(retrieval_overlap(patterns, final.position))
        np.testing.assert_array_equal(overlaps, 1.0)


def _scaled_energy(products: np.ndarray, spins: np.ndarray) -> np.ndarray:
    """N E = -(1/2) s^T C s, exact in int64."""
    return -(np.einsum("...i,ij,...j->...", spins, products, spins) // 2)


def test_zero_temperature_asynchronous_updates_never_raise_the_energy():
    # Load 0.3 (above alpha_c): from random states many spins flip for several sweeps;
    # at N = 40, P = 12 exact ties f_i = 0 occur (counted below) and exercise the tie rule.
    num_spins, num_patterns, num_chains = 40, 12, 16
    key_patterns, key_start, key_run = jax.random.split(jax.random.key(1), 3)
    network = hebbian(random_patterns(key_patterns, num_patterns, num_spins))
    products = np.asarray(network.pattern_products).astype(np.int64)
    kernel = asynchronous_sweep(network)
    step = jax.jit(jax.vmap(kernel.step, in_axes=(0, 0, None)))
    states = jax.jit(jax.vmap(kernel.init))(random_patterns(key_start, num_chains, num_spins))
    num_flips = num_ties = 0
    for sweep in range(8):
        keys = jax.random.split(jax.random.fold_in(key_run, sweep), num_chains)
        before = np.asarray(states.position).astype(np.int64)
        states, _ = step(keys, states, math.inf)
        after = np.asarray(states.position).astype(np.int64)
        # The sweep visits i = 0..N-1 once each, in order: replay it one spin at a time.
        spins = before.copy()
        for i in range(num_spins):
            stability = spins[:, i] * (spins @ products[:, i])  # N s_i f_i, exact
            flipped = after[:, i] != spins[:, i]
            # The sign rule with ties kept: flip iff s_i f_i < 0.
            np.testing.assert_array_equal(flipped, stability < 0)
            energy = _scaled_energy(products, spins)
            spins[:, i] = after[:, i]
            assert np.all(_scaled_energy(products, spins) - energy <= 0)
            num_flips += int(flipped.sum())
            num_ties += int((stability == 0).sum())
        np.testing.assert_array_equal(spins, after)
        np.testing.assert_allclose(states.energy, _scaled_energy(products, after) / num_spins,
                                   rtol=1e-6)  # fmt: skip
    assert num_flips > 100 and num_ties > 10, (num_flips, num_ties)


def test_sweep_info_is_the_mean_heat_bath_flip_probability():
    # acceptance_rate: mean over sites of P(site takes the other value), each site at its
    # turn (asynchronous) or from the old spins (synchronous); is_accepted: a spin changed.
    num_spins = 30
    key_patterns, key_start, key_run = jax.random.split(jax.random.key(11), 3)
    network = hebbian(random_patterns(key_patterns, 6, num_spins))
    products = np.asarray(network.pattern_products).astype(np.float64)
    start = np.asarray(random_patterns(key_start, 1, num_spins)[0]).astype(np.float64)
    for beta in (0.7, math.inf):
        state = asynchronous_sweep(network).init(start)
        new, info = asynchronous_sweep(network).step(key_run, state, beta)
        after = np.asarray(new.position).astype(np.float64)
        spins, probabilities = start.copy(), []
        for i in range(num_spins):
            stability = spins[i] * (spins @ products[:, i]) / num_spins  # s_i f_i
            if math.isinf(beta):
                probabilities.append(float(stability < 0))  # ties keep the spin
            else:
                probabilities.append(1.0 / (1.0 + math.exp(2.0 * beta * stability)))
            spins[i] = after[i]
        np.testing.assert_allclose(float(info.acceptance_rate), np.mean(probabilities), rtol=1e-5)
        assert bool(info.is_accepted) == bool(np.any(after != start))
        fields = start @ products / num_spins
        new, info = synchronous_update(network).step(key_run, state, beta)
        if math.isinf(beta):
            expected = np.mean(start * fields < 0)
        else:
            expected = np.mean(1.0 / (1.0 + np.exp(2.0 * beta * start * fields)))
        np.testing.assert_allclose(float(info.acceptance_rate), expected, rtol=1e-5)
        assert bool(info.is_accepted) == bool(np.any(np.asarray(new.position) != start))
    # From the one stored pattern nothing moves at T = 0.
    pattern = random_patterns(key_patterns, 6, num_spins)[:1]
    kernel = asynchronous_sweep(hebbian(pattern))
    _, info = kernel.step(key_run, kernel.init(pattern[0]), math.inf)
    assert float(info.acceptance_rate) == 0.0
    assert not bool(info.is_accepted)


def test_zero_temperature_is_beta_inf_everywhere_and_shares_one_program():
    # retrieve(T = 0) is the driver at beta = inf with network b's key split(key, B)[b];
    # T = 0 and T > 0 run the same compiled program; legacy and typed keys agree.
    patterns = random_patterns(jax.random.key(12), 4 * 10, 40).reshape(4, 10, 40)
    cues = corrupt(jax.random.key(13), patterns[:, :3], 0.2)
    final = retrieve(patterns, jax.random.key(14), cues, 6, num_patterns=[2, 4, 6, 10])
    compiled = hopfield.retrieval._retrieve._cache_size()
    retrieve(patterns, jax.random.key(14), cues, 6, temperature=0.2, num_patterns=[2, 4, 6, 10])
    assert hopfield.retrieval._retrieve._cache_size() == compiled
    legacy = retrieve(patterns, jax.random.PRNGKey(14), cues, 6, num_patterns=[2, 4, 6, 10])
    np.testing.assert_array_equal(legacy, final)
    network_keys = jax.random.split(jax.random.key(14), 4)
    for index, count in enumerate([2, 4, 6, 10]):
        kernel = asynchronous_sweep(hebbian(patterns[index, :count]))
        states, _ = statjax.run_chains(kernel, network_keys[index], cues[index], 6, beta=math.inf)
        np.testing.assert_array_equal(states.position, final[index])


def _boltzmann(network, beta: float) -> np.ndarray:
    energies = np.array([float(network(s)) for s in _ALL_STATES_6])
    weights = np.exp(-beta * (energies - energies.min()))
    return weights / weights.sum()


def _state_index(spins: np.ndarray) -> np.ndarray:
    return ((np.asarray(spins) > 0).astype(int) * 2 ** np.arange(5, -1, -1)).sum(-1)


def test_asynchronous_glauber_samples_the_exact_boltzmann_law_per_chain_beta():
    key_patterns, key_start, key_run = jax.random.split(jax.random.key(2), 3)
    network = hebbian(random_patterns(key_patterns, 2, 6), fields=0.2 * jnp.arange(-3, 3) / 3)
    kernel = asynchronous_sweep(network)
    betas = np.array([0.6, 1.2])
    num_per_beta = 8192
    starts = random_patterns(key_start, 2 * num_per_beta, 6)
    beta = np.repeat(betas, num_per_beta)  # one beta per chain, two temperatures
    final, _ = statjax.run_chains(kernel, key_run, starts, 40, beta=beta)
    for index, value in enumerate(betas):
        samples = np.asarray(final.position[index * num_per_beta : (index + 1) * num_per_beta])
        counts = np.bincount(_state_index(samples), minlength=64)
        expected = num_per_beta * _boltzmann(network, value)
        # Pearson chi-square on 64 states (all expected counts > 5 here), 63 dof; the
        # chains are independent, so at a fixed seed a p-value below 1e-3 is a failure.
        assert expected.min() > 5
        chi_square = np.sum((counts - expected) ** 2 / expected)
        assert stats.chi2.sf(chi_square, 63) > 1e-3, (value, chi_square)
    # The network is a pytree leaf of the kernel: new patterns do not recompile.
    compiled = statjax.samplers.run._run_chunk._cache_size()
    other = asynchronous_sweep(hebbian(random_patterns(jax.random.key(9), 2, 6)))
    statjax.run_chains(other, key_run, starts, 40, beta=beta)
    assert statjax.samplers.run._run_chunk._cache_size() == compiled


def test_synchronous_update_is_the_parallel_rule():
    key_patterns, key_start, key_run = jax.random.split(jax.random.key(3), 3)
    num_spins = 40
    network = hebbian(random_patterns(key_patterns, 10, num_spins))
    products = np.asarray(network.pattern_products)
    spins = random_patterns(key_start, 64, num_spins)
    # T = 0: s_i' = sign(f_i(s)) from the old s, ties (N f_i = 0, exact) keep s_i.
    kernel = synchronous_update(network)
    states = jax.jit(jax.vmap(kernel.init))(spins)
    step = jax.jit(jax.vmap(kernel.step, in_axes=(0, 0, None)))
    new, _ = step(jax.random.split(key_run, 64), states, math.inf)
    fields = np.asarray(spins, float) @ products
    expected = np.where(fields == 0, np.asarray(spins), np.sign(fields))
    assert np.sum(fields == 0) > 0  # exact ties occur here
    np.testing.assert_array_equal(new.position, expected)
    # T > 0: every spin independently +1 with probability 1 / (1 + exp(-2 beta f_i(s))).
    beta, num_draws = 2.0, 8000
    state = kernel.init(spins[0])
    keys = jax.random.split(jax.random.fold_in(key_run, 1), num_draws)
    draws = jax.jit(jax.vmap(kernel.step, in_axes=(0, None, None)))(keys, state, beta)[0].position
    frequency = np.mean(np.asarray(draws) > 0, axis=0)
    probability = 1.0 / (1.0 + np.exp(-2.0 * beta * fields[0] / num_spins))
    # Each frequency is a mean of num_draws Bernoulli(p) draws: within 5 standard errors
    # for all 40 spins (the 24-bit uniforms bias p by < 2^-24, negligible).
    standard_error = np.sqrt(probability * (1.0 - probability) / num_draws)
    assert np.all(np.abs(frequency - probability) <= 5 * standard_error + 1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"patterns must hold only -1 and \+1"):
        hebbian(np.array([[0, 1, 1], [1, 1, 0]]))
    with pytest.raises(ValueError, match=r"patterns must be \(num_patterns, num_spins\)"):
        hebbian(np.ones(5))
    with pytest.raises(ValueError, match="fields must have shape"):
        hebbian(np.ones((2, 5)), fields=np.zeros(4))
    with pytest.raises(ValueError, match="num_patterns must lie"):
        hebbian(np.ones((2, 5)), num_patterns=3)
    kernel = asynchronous_sweep(hebbian(np.ones((1, 5))))
    state = kernel.init(np.ones(5))
    for beta in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="beta must be > 0"):
            kernel.step(jax.random.key(0), state, beta)
        with pytest.raises(ValueError, match="beta"):
            statjax.run_chains(kernel, jax.random.key(0), np.ones((2, 5)), 1, beta=beta)
    with pytest.raises(ValueError, match="position must end in the number of spins 5"):
        kernel.init(np.ones(4))
    with pytest.raises(TypeError, match="network must be a HopfieldNetwork"):
        synchronous_update(DenseIsing(jnp.zeros((2, 2)), jnp.zeros(2)))
    with pytest.raises(ValueError, match="flip_fraction"):
        corrupt(jax.random.key(0), np.ones(4), 1.5)
    with pytest.raises(ValueError, match="temperature must be finite and >= 0"):
        capacity_curve(jax.random.key(0), 20, [0.1], temperature=-0.1)
    with pytest.raises(ValueError, match="num_cues=3 exceeds"):
        capacity_curve(jax.random.key(0), 20, [0.1], num_cues=3)
    with pytest.raises(ValueError, match="loads must be"):
        capacity_curve(jax.random.key(0), 20, [0.0, 0.1])


def test_ags_theory_matches_published_values_and_the_curie_weiss_limit():
    # AGS (1985): alpha_c = 0.138 with m = 0.967 at T = 0 (replica-symmetric).
    branch = ags_branch(0.0)
    assert branch.loads[-1] == pytest.approx(0.138, abs=5e-4)
    assert branch.overlaps[-1] == pytest.approx(0.967, abs=2e-3)
    # As alpha -> 0 the retrieval state is the Curie-Weiss magnet: m = tanh(m / T).
    temperature = 0.5
    curie_weiss = optimize.brentq(lambda m: m - np.tanh(m / temperature), 0.1, 1.0)
    assert float(ags_overlap(1e-4, temperature)) == pytest.approx(curie_weiss, abs=1e-3)
    # The finite-T branch tends to the T = 0 one, and alpha_c falls with T.
    assert ags_branch(0.01).loads[-1] == pytest.approx(branch.loads[-1], abs=2e-3)
    critical = [hopfield.ags_critical_load(t) for t in (0.1, 0.2, 0.3)]
    assert branch.loads[-1] > critical[0] > critical[1] > critical[2] > 0.05


def test_capacity_curve_collapses_and_critical_load_interpolates():
    # The doctest's shapes (one compiled program), another key.
    curve = capacity_curve(jax.random.key(4), 50, [0.05, 0.4], num_networks=4)
    assert curve.overlaps.shape == (2, 4, 1)
    # At P = 2 of N = 50 every stored pattern is a fixed point; at load 0.4 retrieval is gone.
    np.testing.assert_array_equal(curve.overlaps[0], 1.0)
    assert float(curve.overlaps[1].mean()) < 0.7
    loads = jnp.array([0.1, 0.12, 0.14, 0.16])
    assert float(critical_load(loads, jnp.array([0.99, 0.97, 0.57, 0.3]), 0.77)) == pytest.approx(
        0.13, abs=1e-6
    )
    assert np.isnan(float(critical_load(loads, jnp.ones(4), 0.5)))
    assert np.isnan(float(critical_load(loads, jnp.zeros(4), 0.5)))
    # jit/vmap-safe: a batch of curves in one call.
    batch = jax.vmap(critical_load, in_axes=(None, 0))(loads, jnp.array([[1, 1, 0, 0.0]] * 3))
    np.testing.assert_allclose(batch, 0.13, atol=1e-6)


def test_retrieve_does_not_recompile_for_new_temperatures_or_loads():
    patterns = random_patterns(jax.random.key(5), 8 * 20, 50).reshape(8, 20, 50)
    # (capacity_curve's test may have compiled these shapes already: T = 0 shares them.)
    sizes = []
    for temperature, num_patterns in ((0.1, [2] * 8), (0.3, [20, 1, 4, 5, 6, 7, 8, 9])):
        retrieve(
            patterns, jax.random.key(6), patterns[:, :1], 20, temperature=temperature,
            num_patterns=num_patterns,
        )  # fmt: skip
        sizes.append(hopfield.retrieval._retrieve._cache_size())
    assert sizes[1] == sizes[0]
