"""statjax.random: jax.random's values (fused), the laws of the draws, independence, streams.

Statistical tests use fixed seeds and a stated p-value threshold of the test's
null distribution (chi-square with ``bins - 1`` degrees of freedom; correlations
as ``sqrt(n) r ~ N(0, 1)`` with a Bonferroni bound over the pairs): a working
generator fails one with probability below the threshold, a broken one (a bias,
a repeated stream, a correlation across chains) fails it.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import statjax
import statjax.random as sjrandom
from statjax.pytree import Pytree, static_field
from statjax.samplers.loop import chain_keys

P_VALUE = 1e-4
"""Each statistical test fails a correct generator with probability below this."""


def _same(a, b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )


# ------------------------------------------------------------- jax.random's values


def test_fused_draws_are_jax_randoms_values():
    key, legacy = jax.random.key(3), jax.random.PRNGKey(3)
    shape = (3, 37)
    tree = [jnp.zeros((2, 5)), jnp.zeros(2, jnp.bfloat16)]  # mixed dtypes: the split path

    @jax.jit
    def both(key):
        fused = (
            sjrandom.bits(key, shape),
            sjrandom.uniform(key, shape, minval=-2.0, maxval=3.0),
            sjrandom.normal(key, shape),
            sjrandom.bernoulli(key, 0.3, shape),
            sjrandom.randint(key, shape, -3, 17),
            sjrandom.normal_and_log_uniform_like(key, tree),
        )
        reference = (
            jax.random.bits(key, shape),
            jax.random.uniform(key, shape, minval=-2.0, maxval=3.0),
            jax.random.normal(key, shape),
            jax.random.bernoulli(key, 0.3, shape),
            jax.random.randint(key, shape, -3, 17),
            sjrandom.normal_and_log_uniform_like(key, tree, backend="jax"),
        )
        return fused, reference

    fused, reference = both(key)
    assert _same(fused, reference)
    # A legacy key wraps the same bits: the same numbers.
    assert _same(sjrandom.uniform(legacy, shape), sjrandom.uniform(key, shape))


def test_other_implementations_and_the_jax_backend():
    key = jax.random.key(7, impl="rbg")
    fused = sjrandom.normal(key, (1000,))
    assert _same(sjrandom.normal(key, (1000,), backend="jax"), jax.random.normal(key, (1000,)))
    assert not _same(fused, jax.random.normal(key, (1000,)))  # same law, another stream
    # 1000 normals: mean within 4.5 standard errors (1/sqrt(1000)) of 0.
    assert abs(float(jnp.mean(fused))) < 4.5 / np.sqrt(1000)
    with pytest.raises(ValueError, match="backend"):
        sjrandom.uniform(key, backend="numpy")
    with sjrandom.use_backend("jax"):
        assert sjrandom.get_backend() == "jax"
    assert sjrandom.get_backend() == "fused"


def test_the_backend_reaches_the_kernels_and_run_chains_compiles_per_backend():
    kernel = statjax.mala(lambda x: 0.5 * jnp.sum(x**2), 0.3)
    x = jnp.zeros((4, 3))
    runs = {}
    for backend in sjrandom.BACKENDS:
        with sjrandom.use_backend(backend):
            for name, key in [("fry", jax.random.key(1)), ("rbg", jax.random.key(1, impl="rbg"))]:
                runs[backend, name] = statjax.run_chains(kernel, key, x, 5)[0].position
    assert _same(runs["fused", "fry"], runs["jax", "fry"])  # the same numbers for Threefry
    assert not _same(runs["fused", "rbg"], runs["jax", "rbg"])  # each backend compiled


# ---------------------------------------------------------------------- the laws


def _chi_square_p_value(unit: np.ndarray, bins: int) -> float:
    counts = np.bincount(np.minimum((unit * bins).astype(np.int64), bins - 1), minlength=bins)
    return float(stats.chisquare(counts).pvalue)


@pytest.fixture(scope="module")
def kernel_style_draws():
    """10**7 uniforms and 10**7 normals drawn as kernels draw: per chain, per step.

    The driver's keys of 1000 chains at 10 steps, 1000 numbers per chain and step.
    """

    @jax.jit
    def draw(key):
        def one_step(step):
            uniform_keys = chain_keys(key, step, 1000)
            normal_keys = chain_keys(jax.random.fold_in(key, 1), step, 1000)
            return (
                jax.vmap(lambda k: sjrandom.uniform(k, (1000,)))(uniform_keys),
                jax.vmap(lambda k: sjrandom.normal(k, (1000,)))(normal_keys),
            )

        return jax.lax.map(one_step, jnp.arange(10))

    uniform, normal = draw(jax.random.key(2026))
    return np.asarray(uniform).ravel(), np.asarray(normal).ravel()


def test_uniforms_are_uniform(kernel_style_draws):
    uniform, _ = kernel_style_draws
    assert uniform.size == 10**7 and uniform.min() >= 0.0 and uniform.max() < 1.0
    # Chi-square with 10**4 equiprobable bins (1000 expected per bin): p > P_VALUE.
    assert _chi_square_p_value(uniform, 10_000) > P_VALUE


def test_normals_are_normal(kernel_style_draws):
    _, normal = kernel_style_draws
    assert normal.size == 10**7
    # The probability integral transform Phi(z) is uniform iff z ~ N(0, 1): the same
    # chi-square test, which weighs the tails as much as the bulk.
    assert _chi_square_p_value(special.ndtr(normal.astype(np.float64)), 10_000) > P_VALUE


def test_rbg_keyed_uniforms_are_uniform():
    keys = jax.random.split(jax.random.key(5, impl="rbg"), 1000)
    uniform = np.asarray(jax.jit(jax.vmap(lambda k: sjrandom.uniform(k, (1000,))))(keys))
    assert _chi_square_p_value(uniform.ravel(), 1000) > P_VALUE


def test_no_correlation_between_chains_steps_and_neighbours():
    """Normals x[t, c, d] from the driver's key rule: chain c's key at step t.

    For independent N(0, 1) numbers, ``r = mean(x y)`` over ``n`` pairs has
    ``sqrt(n) r ~ N(0, 1)``; the largest of ``m`` such |z| stays below the
    Bonferroni bound ``Phi^-1(1 - P_VALUE / (2 m))`` with probability > 1 - P_VALUE.
    """
    steps, chains, size = 16, 16, 4096

    @jax.jit
    def draw(key):
        def one_step(step):
            return jax.vmap(lambda k: sjrandom.normal(k, (size,)))(chain_keys(key, step, chains))

        return jax.lax.map(one_step, jnp.arange(steps))

    x = np.asarray(draw(jax.random.key(11)), np.float64)  # (steps, chains, size)
    by_chain = x.transpose(1, 0, 2).reshape(chains, -1)
    by_step = x.reshape(steps, -1)
    z_chains = by_chain @ by_chain.T / np.sqrt(by_chain.shape[1])
    z_steps = by_step @ by_step.T / np.sqrt(by_step.shape[1])
    z_neighbours = np.sum(x[..., :-1] * x[..., 1:]) / np.sqrt(x[..., 1:].size)
    off = ~np.eye(chains, dtype=bool)
    num_pairs = chains * (chains - 1) // 2 + steps * (steps - 1) // 2 + 1
    bound = stats.norm.isf(P_VALUE / (2 * num_pairs))
    assert np.max(np.abs(z_chains[off])) < bound
    assert np.max(np.abs(z_steps[~np.eye(steps, dtype=bool)])) < bound
    assert abs(z_neighbours) < bound


# ------------------------------------------------------------------------ streams


class DrawState(NamedTuple):
    position: dict
    energy: jax.Array


class DrawEverything(Pytree):
    """A kernel whose state is every kind of draw of its step: streams made visible."""

    size: int = static_field()

    def init(self, position):
        return DrawState(position, jnp.zeros(()))

    def step(self, key, state, beta):
        keys = jax.random.split(key, 5)
        noise, log_u = sjrandom.normal_and_log_uniform_like(keys[4], state.position["normal"])
        draws = {
            "uniform": sjrandom.uniform(keys[0], (self.size,)),
            "normal": sjrandom.normal(keys[1], (self.size,)) + noise,
            "bernoulli": sjrandom.bernoulli(keys[2], 0.3, (self.size,)).astype(jnp.float32),
            "randint": sjrandom.randint(keys[3], (self.size,), 0, 7).astype(jnp.float32) + log_u,
        }
        return DrawState(draws, state.energy), None


def _observe(state):
    return state.position


def test_streams_identical_across_chunking_and_resume():
    kernel = DrawEverything(3)
    start = {name: jnp.zeros((4, 3)) for name in ("uniform", "normal", "bernoulli", "randint")}
    key = jax.random.key(42)
    # Two compiled chunk lengths (8 and 4) serve all four runs.
    whole = statjax.run_chains(kernel, key, start, 8, observe=_observe)
    chunked = statjax.run_chains(kernel, key, start, 8, observe=_observe, chunk_size=4)
    first = statjax.run_chains(kernel, key, start, 4, observe=_observe)
    second = statjax.run_chains(kernel, key, first[0], 4, observe=_observe, start_step=4)
    resumed = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), first[1], second[1])
    assert _same(whole, chunked)
    assert _same(whole[1], resumed) and _same(whole[0], second[0])
    # Every chain and step drew its own numbers.
    uniforms = np.asarray(whole[1]["uniform"]).reshape(-1)
    assert np.unique(uniforms).size == uniforms.size
