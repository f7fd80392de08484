"""MALA and HMC reproduce the 1-D double-well marginal, checked by a KS test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy import DoubleWell

NUM_CHAINS = 4096
# Kolmogorov's distribution: P(sqrt(n) D_n > 1.949) = 0.001. The final states of
# independent chains are iid, so D_n exceeds this bound with probability 1e-3
# if (and only if, as n grows) the kernel samples the right marginal.
KS_CRITICAL_AT_1E_3 = 1.949


def _exact_cdf(energy, beta, points):
    """CDF of exp(-beta E) by a fine trapezoid rule on [-4, 4] (error << 1e-6)."""
    grid = np.linspace(-4.0, 4.0, 40_001)
    log_density = -beta * np.asarray(jax.vmap(energy)(jnp.asarray(grid)[:, None]), np.float64)
    density = np.exp(log_density - log_density.max())
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]))])
    return np.interp(points, grid, cumulative / cumulative[-1])


@pytest.mark.parametrize(
    "kernel_factory",
    [
        lambda energy: statjax.mala(energy, 0.02),
        lambda energy: statjax.hmc(energy, 0.1, 10),
    ],
    ids=["mala", "hmc"],
)
@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_double_well_marginal(kernel_factory, beta):
    energy = DoubleWell(dim=1, barrier=1.0)
    initial = jax.random.choice(jax.random.key(1), jnp.array([-1.0, 1.0]), (NUM_CHAINS, 1))
    final, _ = statjax.run_chains(
        kernel_factory(energy), jax.random.key(0), initial, 1000, beta=beta
    )
    samples = np.sort(np.asarray(final.position[:, 0], np.float64))
    cdf = _exact_cdf(energy, beta, samples)
    n = samples.size
    ks_distance = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks_distance < KS_CRITICAL_AT_1E_3 / np.sqrt(n)
