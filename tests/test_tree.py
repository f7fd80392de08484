"""The private pytree helpers that every kernel's randomness goes through."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from statjax._tree import as_pytree_fn, normal_and_log_uniform_like, normal_like

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
