"""Gaussian–Bernoulli RBM ``log Z`` by AIS against exact enumeration of 2^20 hidden states.

The AIS estimate (100 independent chains, 1,000 linear path points) must lie
within 3 of its own delta-method standard errors (across the chains, from
:func:`statjax.thermo.ais_estimate`) and within 0.1 nats of the exact ``log Z``
(:func:`statjax.models.rbm.exact_log_z`). The model is far from the base (``log
Z - log Z_A`` about 15 nats), so a wrong path or transition would show.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statjax.models.rbm import GaussianRBMParams, ais_log_z, exact_log_z, init_rbm

NUM_SIGMA = 3.0


def _params(num_visible=6, num_hidden=20, seed=5):
    keys = jax.random.split(jax.random.key(seed), 4)
    return GaussianRBMParams(
        0.4 * jax.random.normal(keys[0], (num_visible, num_hidden)),
        jax.random.normal(keys[1], (num_visible,)),
        -0.5 + 0.5 * jax.random.normal(keys[2], (num_hidden,)),
        0.3 * jax.random.normal(keys[3], (num_visible,)),
    )


def test_gaussian_ais_matches_exact_log_z_of_20_hidden_units():
    params = _params()
    exact = float(exact_log_z(params))
    base = 0.5 * 6 * math.log(2 * math.pi) + float(jnp.sum(params.log_sigma)) + 20 * math.log(2)
    assert exact - base > 10  # the path has somewhere to go
    result = ais_log_z(jax.random.key(0), params, betas=np.linspace(0, 1, 1001), num_chains=100)
    error = abs(float(result.log_z) - exact)
    assert error < NUM_SIGMA * float(result.standard_error), (error, result.standard_error)
    assert error < 0.1
    assert result.final_states.shape == (100, 6)


def test_gaussian_ais_refuses_bad_arguments():
    params = init_rbm(jax.random.key(0), 3, 2, gaussian=True)
    with pytest.raises(ValueError, match="base_visible_mean"):
        ais_log_z(jax.random.key(0), params, jnp.zeros(4), betas=np.linspace(0, 1, 3))
    with pytest.raises(ValueError, match="betas"):
        ais_log_z(jax.random.key(0), params, betas=np.linspace(0.1, 1, 3))
