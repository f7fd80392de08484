"""Kaufman's finite-lattice log Z against enumeration (2x2, 4x4) and Onsager's limit."""

import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy.ising import square_ising
from statjax.thermo.kaufman import kaufman_free_energy, kaufman_log_z
from statjax.thermo.onsager import onsager_free_energy


@pytest.mark.parametrize("size", [2, 4])
def test_kaufman_equals_enumeration(size):
    betas = np.array([0.1, 0.3, 0.4406868, 0.6, 1.0])
    exact = np.asarray(statjax.thermo.exact_log_z(square_ising(size), jnp.asarray(betas)))
    kaufman = np.array([kaufman_log_z(beta, size) for beta in betas])
    # Enumeration sums in float32: relative rounding ~1e-7 of log Z (~ 10-30).
    np.testing.assert_allclose(kaufman, exact, rtol=0, atol=1e-5)


def test_kaufman_approaches_onsager():
    # Below T_c the two ground states add log 2 / (beta N) to -f: the gap shrinks as 1/L^2.
    gaps = [kaufman_free_energy(0.6, size) - float(onsager_free_energy(0.6)) for size in (16, 32)]
    assert abs(gaps[0] / gaps[1] - 4.0) < 0.05
    assert kaufman_log_z(0.3, 3, 5) > 0  # rectangular and odd sizes work
    with pytest.raises(ValueError, match="beta"):
        kaufman_log_z(-1.0, 4)
