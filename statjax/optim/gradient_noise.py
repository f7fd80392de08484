"""Annealed gradient noise (Neelakantan et al. 2015): optax's ``add_noise`` already serves.

Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens (2015), eq. (1):
``g_t <- g_t + N(0, sigma_t^2)``, ``sigma_t^2 = eta / (1 + t)^gamma`` (with
``eta`` in {0.01, 0.3, 1.0} and ``gamma = 0.55``). ``optax.add_noise(eta, gamma,
key)`` is exactly this rule (its variance is ``eta / (count + 1)^gamma`` at the
0-based ``count``, the noise added to the incoming gradient before a learning
rate is applied), and ``optax.noisy_sgd`` chains it with SGD. So statjax
re-exports it as :func:`annealed_gradient_noise` rather than rewriting it.

It is *not* a Langevin sampler: its noise does not scale with the learning rate
and has no temperature, so it anneals to plain SGD and targets no stationary
law. For sampling ``exp(-U / T)`` use :func:`statjax.optim.sgld`, whose noise is
``sqrt(2 lr T)`` in parameter units (``sqrt(2 T / lr)`` in gradient units).

Example:
    >>> import jax.numpy as jnp, optax
    >>> opt = optax.chain(annealed_gradient_noise(eta=0.01, gamma=0.55, key=0), optax.sgd(0.1))
    >>> updates, state = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
"""

import optax

annealed_gradient_noise = optax.add_noise
