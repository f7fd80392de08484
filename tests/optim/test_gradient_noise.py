"""Annealed gradient noise (Neelakantan et al. 2015) is optax.add_noise, re-exported."""

import jax.numpy as jnp
import numpy as np
import optax

from statjax import optim


def test_reexport_and_variance_schedule():
    assert optim.annealed_gradient_noise is optax.add_noise
    eta, gamma, n = 0.3, 0.55, 20_000
    transform = optim.annealed_gradient_noise(eta, gamma, key=0)
    state = transform.init(jnp.zeros(n))
    for t in range(4):
        noise, state = transform.update(jnp.zeros(n), state)
        variance = eta / (1 + t) ** gamma  # sigma_t^2 = eta / (1 + t)^gamma, eq. (1)
        sample_variance = np.var(np.asarray(noise, np.float64))
        assert abs(sample_variance - variance) < 5 * variance * np.sqrt(2 / n)
