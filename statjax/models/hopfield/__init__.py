r"""Hopfield networks: Hebbian storage, Glauber dynamics, retrieval and storage capacity.

A Hopfield network (Hopfield 1982, PNAS 79, 2554) stores ``P`` patterns
``xi^mu in {-1, +1}^N`` in the Hebbian couplings and has the energy of a dense
Ising model,

.. math::

    J = \frac{1}{N} \sum_{\mu=1}^{P} \xi^\mu \xi^{\mu\top}, \quad J_{ii} = 0, \qquad
    E(s) = -\tfrac{1}{2} s^\top J s - h^\top s .

Dynamics at temperature ``T = 1 / beta`` (Glauber 1963): a spin is set to ``+1``
with probability ``P(s_i = +1) = 1 / (1 + exp(-2 beta f_i))``, ``f = J s + h`` its
local field. Offered to the spins one at a time (:func:`asynchronous_sweep`) this
leaves ``exp(-beta E)`` invariant; offered to all spins at once from the same
``f`` (:func:`synchronous_update`, Little 1974) it does not (its stationary law is
Peretto's 1984 pseudo-Boltzmann law, and at ``T = 0`` it may cycle with period 2).

**Zero temperature is ``beta = +inf``** (as for every statjax kernel; the
temperature APIs map ``T = 0`` there): the kernels then apply the sign rule
``s_i = sign(f_i)``. **Ties** ``f_i = 0`` keep the current spin, so
that no update ever raises the energy and a fixed point stays fixed. Ties are
exact: the network keeps the integer matrix ``C = N J`` (``|C_ij| <= P``) and the
kernels work with the integer local fields ``N f = C s + N h`` (exact in float32
for ``h = 0``, while ``P N < 2^24``), at ``beta / N``.

**Retrieval and capacity.** The overlap ``m^mu = (1/N) xi^mu . s`` measures
retrieval; starting from a stored (or corrupted) pattern, the final overlap stays
near 1 below the critical load ``alpha_c = P / N ≈ 0.138`` and collapses above it
(Amit, Gutfreund & Sompolinsky 1985, PRL 55, 1530; 1987, Ann. Phys. 173, 30),
at a lower ``alpha_c(T)`` at ``T > 0``. :func:`ags_branch` (and
:func:`ags_overlap`, :func:`ags_critical_load`) solves their replica-symmetric
equations for reference; :func:`capacity_curve` measures final overlaps against
the load over many random pattern sets in one compiled program
(:func:`retrieve`, through the one driver), and :func:`critical_load` locates
the collapse.

One concern per module: :mod:`~statjax.models.hopfield.network` (storage, the
energy, patterns and overlaps), :mod:`~statjax.models.hopfield.dynamics` (the
kernels), :mod:`~statjax.models.hopfield.retrieval` (retrieval and capacity) and
:mod:`~statjax.models.hopfield.theory` (AGS).
"""

from statjax.models.hopfield.dense import (
    DenseAssociativeMemory,
    DenseAsynchronousSweep,
    attention_update,
    dense_asynchronous_sweep,
    dense_capacity,
    dense_memory,
    modern_hopfield_energy,
)
from statjax.models.hopfield.dynamics import (
    AsynchronousSweep,
    SynchronousUpdate,
    asynchronous_sweep,
    synchronous_update,
)
from statjax.models.hopfield.network import (
    HopfieldNetwork,
    corrupt,
    hebbian,
    random_patterns,
    retrieval_overlap,
)
from statjax.models.hopfield.retrieval import (
    CapacityCurve,
    capacity_curve,
    critical_load,
    retrieve,
)
from statjax.models.hopfield.theory import (
    AGS_CRITICAL_LOAD,
    AGSBranch,
    ags_branch,
    ags_critical_load,
    ags_overlap,
)

__all__ = [
    "AGS_CRITICAL_LOAD",
    "AGSBranch",
    "AsynchronousSweep",
    "CapacityCurve",
    "DenseAssociativeMemory",
    "DenseAsynchronousSweep",
    "HopfieldNetwork",
    "SynchronousUpdate",
    "ags_branch",
    "ags_critical_load",
    "ags_overlap",
    "asynchronous_sweep",
    "attention_update",
    "capacity_curve",
    "corrupt",
    "critical_load",
    "dense_asynchronous_sweep",
    "dense_capacity",
    "dense_memory",
    "hebbian",
    "modern_hopfield_energy",
    "random_patterns",
    "retrieval_overlap",
    "retrieve",
    "synchronous_update",
]
