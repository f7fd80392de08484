r"""Non-equilibrium work and free energy: Jarzynski's equality and the Crooks relation.

A *protocol* drives a system from the energy ``E_0`` to ``E_1`` along
``E_b = (1 - b) E_0 + b E_1``, ``b = b_0 = 0, b_1, ..., b_T = 1``, starting in
equilibrium at ``beta = 1`` and moved by MCMC steps at each ``b_t``. The
(reduced, ``beta``-weighted) work done on it is

.. math::

    W = \sum_{t=1}^{T} (b_t - b_{t-1}) [E_1(x_{t-1}) - E_0(x_{t-1})],

the negative of the annealed-importance-sampling log weight (Neal 2001; Crooks
1998, J. Stat. Phys. 90, 1481): :func:`protocol_work` runs the protocol through
:func:`statjax.thermo.ais.ais_geometric` (so through the one driver). With
``Delta F = F_1 - F_0 = -log(Z_1 / Z_0)``:

- **Jarzynski** (1997, Phys. Rev. Lett. 78, 2690): ``exp(-Delta F) = <exp(-W)>``
  over forward runs, for a protocol of any speed (:func:`jarzynski_free_energy`);
  its logarithm is biased by about half the variance of the estimate, large when
  the dissipation ``<W> - Delta F`` is many ``k_B T``;
- **Crooks** (1999, Phys. Rev. E 60, 2721): ``P_F(W) / P_R(-W) = exp(W - Delta F)``
  between the forward protocol and its time reverse (``E_1 -> E_0``, started in
  equilibrium at ``E_1``); the optimal use of both work distributions is Bennett's
  acceptance ratio (Shirts, Bair, Hooker & Pande 2003), :func:`crooks_free_energy`.

Error bars: Jarzynski by the delta method over independent runs (as AIS's);
BAR by its asymptotic variance (the form of pymbar's ``"BAR"`` uncertainty),
``Var = Var_F(f_F) / (n_F <f_F>^2) + Var_R(f_R) / (n_R <f_R>^2)`` with
``f`` the Fermi functions of Bennett's equation at the solution.
"""

from typing import Any

import jax
import numpy as np

from statjax.thermo.ais import ais_estimate, ais_geometric
from statjax.thermo.bridge import bar
from statjax.types import ArrayTree, PRNGKey


def protocol_work(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    fractions: jax.typing.ArrayLike,
    *,
    num_steps_per_beta: int = 1,
) -> jax.Array:
    """``(num_chains,)`` reduced work along ``E_b``, ``b`` following ``fractions``.

    Args:
        kernel: a statjax kernel on :func:`statjax.energy.interpolated_energy` ``(E_0, E_1)``.
        key: PRNG key (typed or legacy).
        initial: ``(num_chains, ...)`` exact draws from ``exp(-E_0) / Z_0`` (equilibrium start).
        fractions: ``(T + 1,)`` non-decreasing, from 0 to 1.
        num_steps_per_beta: MCMC steps at each ``b_t``, ``t >= 1`` (more: slower driving,
            less dissipation).

    Returns:
        The work of every run; ``-ais_geometric(...).log_weights``.

    Example:
        >>> import jax, jax.numpy as jnp, statjax
        >>> from statjax.energy import AnisotropicGaussian, interpolated_energy
        >>> start = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.ones(2))
        >>> end = AnisotropicGaussian(mean=jnp.ones(2), scales=jnp.ones(2))  # Delta F = 0
        >>> kernel = statjax.samplers.mala(interpolated_energy(start, end), 0.2)
        >>> work = protocol_work(kernel, jax.random.key(0), jax.random.normal(
        ...     jax.random.key(1), (2000, 2)), jnp.linspace(0.0, 1.0, 11))
        >>> bool(float(work.mean()) > 0.0)  # second law: <W> >= Delta F
        True
    """
    result = ais_geometric(kernel, key, initial, fractions, num_steps_per_beta=num_steps_per_beta)
    return -result.log_weights


def jarzynski_free_energy(work: jax.typing.ArrayLike) -> tuple[float, float]:
    """``(Delta F, standard error)`` by Jarzynski's equality, ``Delta F = -log <exp(-W)>``.

    Example:
        >>> import numpy as np
        >>> work = np.random.default_rng(0).normal(1.0, 1.0, 100_000)  # Gaussian W: 1 - 1/2
        >>> round(jarzynski_free_energy(work)[0], 2)
        0.5
    """
    work = np.asarray(work, np.float64).ravel()
    if work.size < 2 or not np.all(np.isfinite(work)):
        raise ValueError(f"need at least 2 finite work values, got {work.size}.")
    log_z, standard_error, _ = ais_estimate(-work)
    return -float(log_z), float(standard_error)


def crooks_free_energy(
    forward_work: jax.typing.ArrayLike, reverse_work: jax.typing.ArrayLike
) -> tuple[float, float]:
    """``(Delta F, standard error)`` from forward and reverse work by BAR (Crooks 1999).

    ``reverse_work`` is the work of the reversed protocol ``E_1 -> E_0`` started in
    equilibrium at ``E_1`` (its mean is ``>= -Delta F``).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)  # Gaussian work obeying Crooks: Delta F = 0.5
        >>> forward, reverse = rng.normal(1.0, 1.0, 5000), rng.normal(0.0, 1.0, 5000)
        >>> round(crooks_free_energy(forward, reverse)[0], 1)
        0.5
    """
    forward = np.asarray(forward_work, np.float64).ravel()
    reverse = np.asarray(reverse_work, np.float64).ravel()
    delta_f = bar(forward, reverse)
    shift = np.log(forward.size / reverse.size)
    fermi_forward = 1.0 / (1.0 + np.exp(np.clip(shift + forward - delta_f, -700, 700)))
    fermi_reverse = 1.0 / (1.0 + np.exp(np.clip(-shift + reverse + delta_f, -700, 700)))
    variance = np.var(fermi_forward) / (forward.size * np.mean(fermi_forward) ** 2) + np.var(
        fermi_reverse
    ) / (reverse.size * np.mean(fermi_reverse) ** 2)
    return delta_f, float(np.sqrt(variance))


__all__ = ["crooks_free_energy", "jarzynski_free_energy", "protocol_work"]
