"""Dual-averaging step-size adaptation across vmapped chains."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import statjax

SCALES = jnp.linspace(0.5, 1.5, 20)


def energy(x):
    return 0.5 * jnp.sum((x / SCALES) ** 2)


def observe_acceptance(state, info):
    return info.acceptance_rate


@pytest.mark.parametrize("target", [0.6, 0.85])
@pytest.mark.parametrize(
    "factory",
    [lambda: statjax.mala(energy, 1.0), lambda: statjax.hmc(energy, 1.0, 5)],
    ids=["mala", "hmc"],
)
def test_adapted_step_size_reaches_the_target_acceptance(factory, target):
    """After warm-up, the mean acceptance over 256 chains x 200 steps is near the target.

    The Monte-Carlo error of that mean is below 0.01; the 0.05 band allows for
    dual averaging's own bias (its averaged iterate converges as t^-kappa). The
    target is 20-dimensional so that acceptance is a smooth function of the step
    size (in very low dimension HMC's acceptance curve is jagged near the
    leapfrog stability limit and no adaptation can hit a target exactly).
    """
    kernel, states = statjax.samplers.adapt_step_size(
        factory(), jax.random.key(0), jnp.zeros((256, 20)), 500, target_acceptance=target
    )
    assert kernel.step_size.shape == ()
    _, acceptance = statjax.run_chains(
        kernel, jax.random.key(1), states, 200, observe=observe_acceptance
    )
    assert abs(float(jnp.mean(acceptance)) - target) < 0.05


def test_dual_averaging_moves_step_size_the_right_way():
    state = statjax.samplers.dual_averaging_init(0.1)
    too_low = statjax.samplers.dual_averaging_update(state, 0.1, target_acceptance=0.8)
    too_high = statjax.samplers.dual_averaging_update(state, 1.0, target_acceptance=0.8)
    assert too_low.log_step_size < too_high.log_step_size
    assert np.isfinite(float(too_low.log_step_size_avg))


def test_adaptation_rejects_bad_target():
    with pytest.raises(ValueError, match="target_acceptance"):
        statjax.samplers.adapt_step_size(
            statjax.mala(energy, 0.1),
            jax.random.key(0),
            jnp.zeros((2, 20)),
            10,
            target_acceptance=1.5,
        )
