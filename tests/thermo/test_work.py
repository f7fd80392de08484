"""Jarzynski and Crooks (BAR) recover the closed-form Delta F of a moving, stiffening Gaussian.

``E_0 = |x|^2 / 2`` and ``E_1 = |(x - mu) / 0.5|^2 / 2`` in 2-D:
``Delta F = -log(Z_1 / Z_0) = -2 log 0.5``; the protocol ``E_b = (1 - b) E_0 + b E_1``
is driven fast enough to dissipate. Tolerance: ``K = 4`` standard errors
(delta method over 2000 independent runs for Jarzynski, BAR's asymptotic
variance for Crooks); fixed seeds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax
from statjax.energy import AnisotropicGaussian, interpolated_energy
from statjax.thermo.work import crooks_free_energy, jarzynski_free_energy, protocol_work

K = 4.0
START = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
END = AnisotropicGaussian(mean=jnp.array([1.0, -0.5]), scales=jnp.full(2, 0.5))
DELTA_F = float(START.log_z(1.0) - END.log_z(1.0))


@pytest.fixture(scope="module")
def work():
    fractions = jnp.linspace(0.0, 1.0, 11)
    draws = jax.random.normal(jax.random.key(0), (2000, 2))
    forward = protocol_work(
        statjax.samplers.mala(interpolated_energy(START, END), 0.2),
        jax.random.key(1),
        draws,
        fractions,
    )
    end_draws = END.mean + END.scales * jax.random.normal(jax.random.key(2), (2000, 2))
    reverse = protocol_work(
        statjax.samplers.mala(interpolated_energy(END, START), 0.2),
        jax.random.key(3),
        end_draws,
        fractions,
    )
    return np.asarray(forward), np.asarray(reverse)


def test_jarzynski_and_crooks_against_the_closed_form(work):
    forward, reverse = work
    # The protocol dissipates: the second law holds strictly in both directions.
    assert forward.mean() > DELTA_F + 0.1 and reverse.mean() > -DELTA_F + 0.1
    delta_f, standard_error = jarzynski_free_energy(forward)
    assert abs(delta_f - DELTA_F) < K * standard_error and standard_error < 0.05
    delta_f, standard_error = crooks_free_energy(forward, reverse)
    assert abs(delta_f - DELTA_F) < K * standard_error and standard_error < 0.05


def test_bad_work_is_refused():
    with pytest.raises(ValueError, match="finite"):
        jarzynski_free_energy(np.array([0.0, np.inf]))
