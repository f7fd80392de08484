"""NUTS (statjax/samplers/nuts.py) against exact answers.

- The trajectory: one transition equals a hand-built recursive tree (pure
  numpy, float64) that reads the same random numbers (the kernel's
  ``nuts_draws`` and ``leaf_uniform``): the same proposal, tree depth, number of
  leapfrog steps, acceptance statistic, divergence flag and move flag.
- Moments: NUTS after windowed adaptation on a 100-D Gaussian with variances
  spanning 10^4 (in ``test_window_adaptation.py``).
- Neal's funnel: with ``sigma = 1`` (a mild funnel NUTS samples correctly) the
  quantiles of ``v`` match ``N(0, 1)``; with ``sigma = 3`` NUTS cannot enter the
  neck with one step size, and the kernel must say so: divergences, all of them
  at ``v`` below the median.
- Rosenbrock's banana (2-D, exactly solvable at every ``beta``): the marginal
  CDFs of ``x_0`` and ``x_1`` at their exact quartiles.

Tolerances are k standard errors with the standard error from the effective
sample size of the same trace (``statjax.diagnostics.effective_sample_size``,
``"basic"`` on the indicator ``1[x <= q]``, so ``SE = sqrt(p (1 - p) / ESS)``);
k = 4 for every comparison (two-sided p ~ 6e-5 each), fixed seeds.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import statjax
from statjax.diagnostics import effective_sample_size
from statjax.energy.funnel import NealFunnel
from statjax.energy.rosenbrock import Rosenbrock
from statjax.samplers.nuts import leaf_uniform, nuts, nuts_draws

NUM_SIGMA = 4.0


# ------------------------------------------------------------ hand-built tree


def tree_energy(x):
    """A smooth non-Gaussian 2-D energy (anharmonic, correlated)."""
    return 0.5 * jnp.sum(x**2) + 0.25 * x[0] ** 4 + 0.6 * x[0] * x[1]


def _tree_energy_np(x):
    return 0.5 * np.sum(x**2) + 0.25 * x[0] ** 4 + 0.6 * x[0] * x[1]


def _tree_grad_np(x):
    return np.array([x[0] + x[0] ** 3 + 0.6 * x[1], x[1] + 0.6 * x[0]])


def reference_nuts(x0, momentum, inverse_mass, step_size, beta, draws, max_depth, threshold):
    """Multinomial NUTS by recursion (Hoffman & Gelman 2014, Alg. 3; Betancourt 2017).

    The tree is built by the textbook recursion: a subtree of depth ``j`` is two
    subtrees of depth ``j - 1``, and it is refused if either half or the whole
    turns (generalised criterion with Stan's ``rho = sum p``) or a leaf
    diverges. The random numbers are the kernel's: the direction and merge
    uniform of each doubling, and the uniform of the n-th leapfrog step for the
    progressive choice within a subtree.
    """
    energy0 = _tree_energy_np(x0)
    hamiltonian0 = energy0 + 0.5 * momentum @ inverse_mass @ momentum
    counter = {"leaf": 0, "acceptance": 0.0}
    start = (x0, momentum, _tree_grad_np(x0), hamiltonian0)

    def turning(first, last, rho):
        return (np.dot(inverse_mass @ first[1], rho) <= 0) or (
            np.dot(inverse_mass @ last[1], rho) <= 0
        )

    def leapfrog(point, signed_step):
        x, p, g, _ = point
        p = p - 0.5 * signed_step * g
        x = x + signed_step * inverse_mass @ p
        g = _tree_grad_np(x)
        p = p - 0.5 * signed_step * g
        return (x, p, g, _tree_energy_np(x) + 0.5 * p @ inverse_mass @ p)

    def build(point, forward, depth, sub):
        """Returns (first, last, rho, valid, divergent); ``sub`` holds the progressive choice."""
        if depth == 0:
            new = leapfrog(point, step_size if forward else -step_size)
            log_weight = -beta * (new[3] - hamiltonian0)
            uniform = float(draws.leaf_uniforms[counter["leaf"]])
            counter["leaf"] += 1
            counter["acceptance"] += min(1.0, np.exp(log_weight))
            if sub["log_weight"] is None:
                sub["log_weight"], sub["proposal"] = log_weight, new
            else:
                total = np.logaddexp(sub["log_weight"], log_weight)
                if uniform < np.exp(log_weight - total):
                    sub["proposal"] = new
                sub["log_weight"] = total
            divergent = not (-log_weight <= threshold)
            return new, new, new[1], not divergent, divergent
        first, last, rho, valid, divergent = build(point, forward, depth - 1, sub)
        if not valid:
            return first, last, rho, False, divergent
        _, last_b, rho_b, valid, divergent = build(last, forward, depth - 1, sub)
        if not valid:
            return first, last_b, rho, False, divergent
        rho = rho + rho_b
        return first, last_b, rho, not turning(first, last_b, rho), False

    left = right = proposal = start
    rho, log_weight, moved, depth, divergent = momentum.copy(), 0.0, False, 0, False
    for doubling in range(max_depth):
        forward = bool(draws.forward[doubling])
        sub = {"log_weight": None, "proposal": None}
        _, last, sub_rho, valid, divergent = build(
            right if forward else left, forward, doubling, sub
        )
        if not valid:
            break
        if float(draws.merge_uniform[doubling]) < np.exp(sub["log_weight"] - log_weight):
            proposal, moved = sub["proposal"], True
        log_weight = np.logaddexp(log_weight, sub["log_weight"])
        rho = rho + sub_rho
        left, right = (left, last) if forward else (last, right)
        depth += 1
        if turning(left, right, rho):
            break
    return {
        "position": proposal[0],
        "tree_depth": depth,
        "num_integration_steps": counter["leaf"],
        "acceptance_rate": counter["acceptance"] / counter["leaf"],
        "is_divergent": divergent,
        "is_accepted": moved,
    }


class _Draws(NamedTuple):
    noise: np.ndarray
    forward: np.ndarray
    merge_uniform: np.ndarray
    leaf_uniforms: np.ndarray


@jax.jit
def _transition(kernel, key, position, beta):
    """One compiled program for every case: the transition and the random numbers it read."""
    state, info = kernel.step(key, kernel.init(position), beta)
    draws = nuts_draws(key, 2, kernel.max_tree_depth, jnp.float32)
    leaves = leaf_uniform(draws, jnp.arange(2**kernel.max_tree_depth))
    return state, info, _Draws(draws.noise, draws.forward, draws.merge_uniform, leaves)


@pytest.mark.parametrize(
    ("step_size", "inverse_mass", "beta"),
    [
        (0.3, ((1.0, 0.0), (0.0, 1.0)), 1.0),
        (0.2, ((2.0, -0.6), (-0.6, 0.5)), 0.5),
        (1.9, ((1.0, 0.0), (0.0, 1.0)), 1.0),
    ],
    ids=["identity", "dense_mass_hot", "divergent"],
)
def test_one_transition_equals_the_hand_built_tree(step_size, inverse_mass, beta):
    """A dense M^-1 throughout (one compiled program; the diagonal path is the
    statistical tests'): p = L^-T z / sqrt(beta) with M^-1 = L L^T."""
    max_depth = 5
    inverse_mass = np.array(inverse_mass, np.float32)
    kernel = nuts(tree_energy, step_size, inverse_mass, max_tree_depth=max_depth)
    counts = {"depths": set(), "divergent": 0, "stayed": 0}
    for seed in range(12):
        key = jax.random.key(seed)
        x0 = np.random.default_rng(seed).normal(size=2).astype(np.float32)
        state, info, draws = _transition(kernel, key, jnp.asarray(x0), jnp.float32(beta))
        factor = np.linalg.cholesky(inverse_mass.astype(np.float64))
        momentum = np.linalg.solve(factor.T, np.asarray(draws.noise, np.float64)) / np.sqrt(beta)
        expected = reference_nuts(
            x0.astype(np.float64),
            momentum,
            inverse_mass.astype(np.float64),
            step_size,
            beta,
            draws,
            max_depth,
            1000.0,
        )
        np.testing.assert_allclose(state.position, expected["position"], rtol=1e-4, atol=1e-5)
        for name in ("tree_depth", "num_integration_steps", "is_divergent", "is_accepted"):
            assert np.asarray(getattr(info, name)) == expected[name], (seed, name)
        np.testing.assert_allclose(
            info.acceptance_rate, expected["acceptance_rate"], rtol=1e-4, atol=1e-7
        )
        np.testing.assert_allclose(state.energy, tree_energy(state.position), rtol=1e-6)
        counts["depths"].add(expected["tree_depth"])
        counts["divergent"] += expected["is_divergent"]
        counts["stayed"] += not expected["is_accepted"]
    # The cases exercise what they are named for.
    if step_size > 1:
        assert counts["divergent"] > 0
    else:
        assert len(counts["depths"]) > 1 and counts["divergent"] == 0


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="step_size"):
        nuts(tree_energy, -0.1)
    with pytest.raises(ValueError, match="max_tree_depth"):
        nuts(tree_energy, 0.1, max_tree_depth=0)
    with pytest.raises(ValueError, match="inverse_mass_matrix"):
        nuts(tree_energy, 0.1, np.array([[1.0, 2.0], [2.0, -1.0]]))
    with pytest.raises(TypeError, match="nuts needs floating-point"):
        nuts(tree_energy, 0.1).init(jnp.zeros(2, jnp.int32))


# ------------------------------------------------------------ funnel, banana


def _indicator_within_error(samples, point, probability, what):
    """``P(x <= point) == probability`` within NUM_SIGMA SE (SE from the indicator's ESS)."""
    indicator = (np.asarray(samples) <= point).astype(np.float64)
    ess = float(effective_sample_size(indicator, kind="basic"))
    error = NUM_SIGMA * np.sqrt(probability * (1 - probability) / ess)
    assert abs(indicator.mean() - probability) < error, (what, indicator.mean(), probability, ess)


def _observe(state, info):
    return state.position, info.is_divergent


@pytest.fixture(scope="module")
def funnel_runs():
    """NUTS on Neal's funnel (2-D) with sigma = 1 and 3: one compiled program.

    The step size is what windowed adaptation (tested in
    test_window_adaptation.py) gives at the mouth: 0.5 for a unit metric; the
    first 100 steps are dropped as warm-up.
    """
    runs = {}
    for sigma in (1.0, 3.0):
        funnel = NealFunnel(dim=2, sigma=jnp.float32(sigma))
        _, (positions, divergent) = statjax.run_chains(
            nuts(funnel, jnp.float32(0.5)),
            jax.random.key(2),
            jnp.zeros((8, 2)),
            700,
            observe=_observe,
        )
        runs[sigma] = (np.asarray(positions)[100:], np.asarray(divergent)[100:])
    return runs


def test_nuts_samples_a_mild_funnel_at_its_exact_quantiles(funnel_runs):
    positions, _ = funnel_runs[1.0]
    for probability in (0.1, 0.25, 0.5, 0.75, 0.9):
        quantile = stats.norm.ppf(probability)  # v ~ N(0, 1)
        _indicator_within_error(positions[..., 0], quantile, probability, ("v", probability))
    # x | v ~ N(0, e^v): the x-marginal CDF at 1 by quadrature over v.
    exact = stats.norm.expect(lambda v: stats.norm.cdf(np.exp(-v / 2)), lb=-12, ub=12)
    _indicator_within_error(positions[..., 1], 1.0, exact, ("x", 1.0))


def test_nuts_flags_divergences_in_the_neck_of_a_steep_funnel(funnel_runs):
    positions, divergent = funnel_runs[3.0]
    _, mild_divergent = funnel_runs[1.0]
    assert divergent.mean() > 0.001 and divergent.mean() > 10 * mild_divergent.mean()
    # The divergent transitions start in the neck: v below its median 0 (the state
    # after a divergent step is where the chain stayed or moved within the neck).
    v_at_divergence = positions[:-1, :, 0][divergent[1:]]
    assert np.median(v_at_divergence) < -1.0


def test_nuts_samples_the_banana_at_its_exact_quartiles():
    """Rosenbrock (a = 1, b = 10) at beta = 0.5: x0 ~ N(1, 1), x1 | x0 ~ N(x0^2, 0.1)."""
    banana = Rosenbrock(a=jnp.float32(1.0), b=jnp.float32(10.0))
    beta = 0.5
    # The metric and step size windowed adaptation gives at target_acceptance=0.95.
    kernel = nuts(banana, 0.08, jnp.array([0.5, 2.0]))
    _, (positions, divergent) = statjax.run_chains(
        kernel, jax.random.key(4), jnp.ones((8, 2)), 700, beta=beta, observe=_observe
    )
    positions, divergent = np.asarray(positions)[100:], np.asarray(divergent)[100:]
    # At this step size NUTS follows the valley without a divergence (at the step
    # size of the 0.8 target it diverges where the valley bends most, x0 ~ 3).
    assert not divergent.any()
    # Exact marginal quartiles; x1's by quadrature of its conditional normal CDF.
    scale0, scale1 = np.sqrt(0.5 / beta), np.sqrt(0.5 / (beta * 10.0))
    for probability in (0.25, 0.5, 0.75):
        quantile0 = 1.0 + scale0 * stats.norm.ppf(probability)
        _indicator_within_error(positions[..., 0], quantile0, probability, ("x0", probability))
    for point in (0.5, 1.5, 3.0):
        exact = stats.norm(1.0, scale0).expect(
            lambda x0, point=point: stats.norm.cdf((point - x0**2) / scale1)
        )
        _indicator_within_error(positions[..., 1], point, exact, ("x1", point))
