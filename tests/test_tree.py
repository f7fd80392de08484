"""The private pytree helpers that every kernel's randomness goes through."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from statjax._tree import (
    as_pytree_fn,
    compute_dtype,
    normal_and_log_uniform_like,
    normal_like,
    tree_cast_like,
    tree_upcast,
    tree_where,
)
from statjax.pytree import Pytree

NUM_DRAWS = 20_000
# P(sqrt(n) D_n > 1.949) = 1e-3 under the null (Kolmogorov).
KS_CRITICAL_AT_1E_3 = 1.949


def _ks_distance(samples, cdf):
    return stats.kstest(np.asarray(samples, np.float64), cdf).statistic


def test_one_draw_gives_exact_normals_and_an_independent_uniform():
    tree = {"a": jnp.zeros((2, 3)), "b": jnp.zeros(())}
    keys = jax.random.split(jax.random.key(0), NUM_DRAWS)
    noise, log_uniform = jax.vmap(normal_and_log_uniform_like, in_axes=(0, None))(keys, tree)
    assert noise["a"].shape == (NUM_DRAWS, 2, 3) and noise["b"].shape == (NUM_DRAWS,)
    bound = KS_CRITICAL_AT_1E_3 / np.sqrt(NUM_DRAWS)
    uniform = np.exp(np.asarray(log_uniform, np.float64))
    assert _ks_distance(uniform, "uniform") < bound
    assert _ks_distance(noise["a"][:, 1, 2], "norm") < bound
    assert _ks_distance(noise["b"], "norm") < bound
    # Independence of the uniform from the noise: |corr| < 4 / sqrt(n).
    correlation = np.corrcoef(uniform, np.asarray(noise["b"]))[0, 1]
    assert abs(correlation) < 4 / np.sqrt(NUM_DRAWS)


def test_mixed_dtypes_fall_back_to_one_draw_per_leaf():
    tree = {"a": jnp.zeros(3, jnp.float32), "b": jnp.zeros(2, jnp.bfloat16)}
    noise, log_uniform = normal_and_log_uniform_like(jax.random.key(0), tree)
    assert noise["a"].dtype == jnp.float32 and noise["b"].dtype == jnp.bfloat16
    assert float(log_uniform) < 0
    assert normal_like(jax.random.key(0), tree)["b"].shape == (2,)


def test_plain_functions_become_leafless_pytrees_and_pytrees_stay():
    def energy(x):
        return x**2

    wrapped = as_pytree_fn(energy)
    assert jax.tree_util.tree_leaves(wrapped) == []
    partial = jax.tree_util.Partial(lambda a, x: a * x, jnp.asarray(2.0))
    assert as_pytree_fn(partial) is partial
    assert float(wrapped(3.0)) == 9.0


def test_float32_draws_do_not_depend_on_at_least_float32():
    tree = {"a": jnp.zeros((2, 3)), "b": jnp.zeros(())}
    key = jax.random.key(1)
    plain, plain_uniform = normal_and_log_uniform_like(key, tree)
    wide, wide_uniform = normal_and_log_uniform_like(key, tree, at_least_float32=True)
    for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(wide), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain_uniform, wide_uniform)


def test_narrow_leaves_get_float32_noise_only_when_asked():
    tree = jnp.zeros(4, jnp.bfloat16)
    key = jax.random.key(2)
    assert normal_like(key, tree).dtype == jnp.bfloat16
    wide = normal_like(key, tree, at_least_float32=True)
    assert wide.dtype == jnp.float32
    # The bfloat16 noise is the float32 noise rounded.
    np.testing.assert_array_equal(normal_like(key, tree), wide.astype(jnp.bfloat16))


def test_updates_are_computed_in_at_least_float32_and_cast_back():
    assert compute_dtype(jnp.bfloat16) == jnp.float32
    assert compute_dtype(jnp.float32) == jnp.float32
    tree = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(2, jnp.float32)}
    upcast = tree_upcast(tree)
    assert upcast["a"].dtype == jnp.float32 and upcast["b"].dtype == jnp.float32
    back = tree_cast_like(upcast, tree)
    assert back["a"].dtype == jnp.bfloat16 and back["b"].dtype == jnp.float32


def test_tree_where_selects_whole_trees():
    x = {"a": jnp.ones(2), "b": jnp.ones(())}
    y = jax.tree_util.tree_map(jnp.zeros_like, x)
    chosen = tree_where(jnp.array(False), x, y)
    assert float(chosen["a"].sum() + chosen["b"]) == 0.0
    batched = jax.vmap(tree_where)(
        jnp.array([True, False]), {"a": jnp.ones((2, 3))}, {"a": jnp.zeros((2, 3))}
    )
    np.testing.assert_array_equal(batched["a"].sum(axis=1), [3.0, 0.0])


def test_pytree_callables_are_kept_so_their_numbers_stay_leaves():
    class Stiffness(Pytree):
        k: jax.Array

        def __call__(self, x):
            return self.k * x

    energy = Stiffness(jnp.float32(2.0))
    assert as_pytree_fn(energy) is energy
    assert len(jax.tree_util.tree_leaves(as_pytree_fn(energy))) == 1
