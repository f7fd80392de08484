"""The No-U-Turn Sampler: multinomial NUTS with the generalised U-turn criterion.

NUTS (Hoffman & Gelman 2014) is HMC that picks its own trajectory length: it
doubles a leapfrog trajectory, each time in a random direction, until the
trajectory turns back on itself, and draws the next state from the whole
trajectory. This module follows Stan's variant (Betancourt 2017, "A Conceptual
Introduction to Hamiltonian Monte Carlo", appendix A):

- **Multinomial sampling**: a state ``i`` of the trajectory is drawn with
  probability proportional to ``w_i = exp(-beta [H_i - H_0])``. Within a new
  subtree the draw is progressive and uniform (each new leaf replaces the
  subtree's candidate with probability ``w_leaf / W_subtree``); when the
  subtree joins the tree its candidate replaces the tree's with probability
  ``min(1, W_subtree / W_tree)`` (biased progressive sampling, which favours
  the far end of the trajectory).
- **Generalised U-turn criterion**: a (sub)trajectory with end velocities
  ``v_- = M^-1 p_-`` and ``v_+ = M^-1 p_+`` and momentum sum
  ``rho = sum_i p_i`` (every state, end points included, as in Stan) is turning
  when ``v_- . rho <= 0`` or ``v_+ . rho <= 0``. It is checked on every subtree
  of the binary tree in which a new subtree is built (a subtree that turns is
  discarded, and the trajectory stops) and on the whole trajectory after each
  doubling (BlackJAX's and NumPyro's ``rho`` subtracts half of each end
  momentum; Stan's, used here, does not).
- **Divergence**: a leaf whose tempered energy error ``beta (H - H_0)``
  exceeds ``divergence_threshold`` (1000, Stan's), or whose energy or gradient
  is not finite, stops the trajectory; its subtree is discarded.
- **Maximum tree depth**: at most ``max_tree_depth`` doublings,
  ``2^max_tree_depth - 1`` leapfrog steps.

**Temperature.** As for HMC (:mod:`statjax.samplers.hmc`): ``p ~ N(0, M / beta)``,
the dynamics runs on the untempered ``H = E + p^T M^-1 p / 2``, and the weights
and the divergence test use ``beta (H - H_0)``. The U-turn criterion is
invariant under the scaling of ``p``, so a tree built at one temperature has
the same shape at every temperature for the rescaled momenta. At ``beta = inf``
the momenta are 0: the trajectory is a descent from rest that stops at the
first rise of ``H`` (a rise is infinitely improbable, so it counts as
divergent), and the next state is drawn uniformly among the states of the
trajectory whose ``H`` does not exceed ``H_0``: the energy never rises.

**One loop per transition, fixed shapes.** The tree is not built by recursion
but by one ``lax.while_loop`` whose every iteration takes exactly one leapfrog
step (one gradient evaluation). Where the step sits in the tree (doubling
``j``, leaf ``k`` of the ``2^j`` leaves of the new subtree) is part of the loop
state, and the U-turn checks of the subtrees that end at leaf ``k`` use a
fixed ``(max_tree_depth, D)`` array of checkpoints (the velocity at the first
leaf of each open subtree and the momentum sum before it; NumPyro's iterative
scheme, Phan, Pradhan & Jankowiak 2019), evaluated all at once with a mask.
Under ``vmap`` (the driver runs every chain through one ``step``) a batched
while loop runs until the last chain's trajectory ends and keeps the state of
the chains that have finished unchanged (masked), so a step of ``C`` chains
costs ``max_c n_c`` gradient evaluations of all ``C`` chains, where ``n_c`` is
chain ``c``'s number of leapfrog steps. With one loop over leapfrog steps (not
a loop over doublings with a loop over the subtree's steps inside, as in
BlackJAX), a chain that ends a subtree starts its next doubling at once instead
of waiting for every chain's subtree to end; the waste is only at the end of
the transition. ``benchmarks/bench_nuts.py`` measures it
(``sum_c n_c / (C max_c n_c)``).

Randomness per transition (:func:`nuts_draws`, on :mod:`statjax.random`'s
fused generator): the momentum noise, then one hash per doubling (direction
and merge uniform) and one per leapfrog step (the leaf's uniform), so the tree
needs no array of ``2^max_tree_depth`` uniforms.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from statjax import random as sjrandom
from statjax._tree import as_pytree_fn, broadcast_like, compute_dtype
from statjax.checks import check_count, check_floating_position, check_positive, scalar_energy
from statjax.pytree import Pytree, static_field
from statjax.samplers.hmc import DIVERGENCE_THRESHOLD, check_inverse_mass_matrix, is_dense
from statjax.samplers.langevin import LangevinState, energy_and_grad_state
from statjax.types import ArrayTree, EnergyFn, PRNGKey

NUTSState = LangevinState
"""NUTS caches the same things as HMC: position, energy, gradient."""


class NUTSInfo(NamedTuple):
    """Outcome of one NUTS transition.

    Attributes:
        acceptance_rate: Stan's acceptance statistic, the mean over the
            trajectory's leapfrog states (those of a discarded last subtree
            included) of ``min(1, exp(-beta [H_i - H_0]))``; dual averaging
            drives it to its target.
        is_accepted: whether the state moved (the draw is not the start).
        is_divergent: a leaf had ``beta (H - H_0) > divergence_threshold`` or a
            non-finite energy or gradient.
        energy_change: ``H(new) - H(start)``, untempered.
        tree_depth: doublings merged into the trajectory (Stan's
            ``treedepth__``); a discarded last subtree does not count.
        num_integration_steps: leapfrog steps taken, each one gradient
            evaluation (Stan's ``n_leapfrog__``).
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    energy_change: jax.Array
    tree_depth: jax.Array
    num_integration_steps: jax.Array


class _Point(NamedTuple):
    """A point of phase space, flattened, in the compute dtype."""

    position: jax.Array
    momentum: jax.Array
    velocity: jax.Array  # M^-1 p
    energy: jax.Array
    energy_grad: jax.Array


class _Proposal(NamedTuple):
    """The state a (sub)trajectory would move to, with its Hamiltonian."""

    position: jax.Array
    energy: jax.Array
    energy_grad: jax.Array
    hamiltonian: jax.Array


class _Tree(NamedTuple):
    """The while loop's state: the trajectory so far and the subtree being built."""

    left: _Point
    right: _Point
    edge: _Point  # where the next leapfrog step starts
    momentum_sum: jax.Array
    log_weight: jax.Array
    proposal: _Proposal
    moved: jax.Array
    subtree_momentum_sum: jax.Array
    subtree_log_weight: jax.Array
    subtree_proposal: _Proposal
    checkpoint_velocity: jax.Array  # (max_tree_depth, D)
    checkpoint_momentum_sum: jax.Array  # (max_tree_depth, D): subtree rho before the leaf
    depth: jax.Array
    leaf: jax.Array
    num_steps: jax.Array
    sum_acceptance: jax.Array
    is_divergent: jax.Array
    done: jax.Array


class NUTSDraws(NamedTuple):
    """The random numbers of one transition (see :func:`nuts_draws`)."""

    noise: jax.Array
    forward: jax.Array
    merge_uniform: jax.Array
    seed: tuple[jax.Array, jax.Array]


def nuts_draws(key: PRNGKey, num_dims: int, max_tree_depth: int, dtype) -> NUTSDraws:
    """The random numbers of one NUTS transition from ``key`` (:mod:`statjax.random`).

    The momentum noise is ``statjax.random.normal(key, (num_dims,), dtype)``. The
    tree's numbers come from the fused Threefry keyed by
    ``seed = statjax.random.seed_words(key)`` at counters the noise never uses
    (second counter word 1 and 2): doubling ``j`` reads ``threefry(seed, (j, 1))``,
    whose first word's top bit says whether it goes forward in time and whose
    second word is the uniform of its merge; the ``n``-th leapfrog step of the
    transition (0-based) reads its leaf uniform from ``threefry(seed, (n, 2))``
    (:func:`leaf_uniform`), so no array of ``2^max_tree_depth`` uniforms is drawn.
    """
    seed = sjrandom.seed_words(key)
    noise = sjrandom.normal(key, (num_dims,), dtype)
    counters = jax.lax.iota(jnp.uint32, max_tree_depth)
    direction_word, merge_word = sjrandom.threefry2x32(*seed, counters, jnp.ones_like(counters))
    forward = (direction_word >> jnp.uint32(31)) == 1
    return NUTSDraws(noise, forward, sjrandom.unit_float32(merge_word), seed)


def leaf_uniform(draws: NUTSDraws, leaf: jax.Array) -> jax.Array:
    """The uniform on ``[0, 1)`` of the ``leaf``-th leapfrog step of the transition (float32)."""
    word, _ = sjrandom.threefry2x32(
        *draws.seed, jnp.asarray(leaf).astype(jnp.uint32), jnp.uint32(2)
    )
    return sjrandom.unit_float32(word)


def _turning(velocity_left, velocity_right, momentum_sum) -> jax.Array:
    """Generalised U-turn criterion: ``v_- . rho <= 0`` or ``v_+ . rho <= 0``."""
    return (jnp.dot(velocity_left, momentum_sum) <= 0) | (
        jnp.dot(velocity_right, momentum_sum) <= 0
    )


def _checkpoint_range(leaf: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The checkpoints ``[idx_min, idx_max]`` whose subtrees end at ``leaf`` (NumPyro's scheme).

    Leaf ``k`` (0-based in the new subtree) of even index opens a checkpoint at
    ``idx_max = popcount(k >> 1)``; leaf ``k`` of odd index closes the subtrees
    that begin at the last ``t`` checkpoints, ``t`` the number of trailing ones
    of ``k`` (for an even ``k`` the range is empty).
    """
    idx_max = jax.lax.population_count(leaf >> 1)
    num_subtrees = jax.lax.population_count((~leaf & (leaf + 1)) - 1)
    return idx_max - num_subtrees + 1, idx_max


class NoUTurnSampler(Pytree):
    """Multinomial NUTS targeting ``exp(-beta E(x))`` (Hoffman & Gelman 2014; Betancourt 2017).

    See the module docstring for the algorithm, the temperature convention and
    the behaviour under ``vmap``. Build it with :func:`nuts`; ``step_size``,
    ``inverse_mass_matrix`` and ``divergence_threshold`` are traced leaves (a
    new value never recompiles; each may carry a chain axis through
    ``per_chain``), ``max_tree_depth`` is static (it sizes the checkpoints).
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    inverse_mass_matrix: ArrayTree
    divergence_threshold: jax.Array
    max_tree_depth: int = static_field(default=10)

    def init(self, position: ArrayTree) -> NUTSState:
        """Start a chain at ``position``, caching its energy and gradient."""
        check_floating_position(position, "nuts")
        return energy_and_grad_state(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: NUTSState, beta: jax.typing.ArrayLike
    ) -> tuple[NUTSState, NUTSInfo]:
        """One NUTS transition at inverse temperature ``beta``."""
        flat_position, unravel = ravel_pytree(state.position)
        chain_dtype = flat_position.dtype
        dtype = compute_dtype(chain_dtype)
        beta = jnp.asarray(beta).astype(jnp.promote_types(dtype, jnp.result_type(state.energy)))
        energy_dtype = jnp.result_type(state.energy)
        dense = is_dense(self.inverse_mass_matrix, state.position)
        matrix = diagonal = jnp.zeros((), dtype)
        if dense:
            matrix = jnp.asarray(jax.tree_util.tree_leaves(self.inverse_mass_matrix)[0], dtype)
        else:
            diagonal = ravel_pytree(broadcast_like(self.inverse_mass_matrix, state.position))[0]
            diagonal = jnp.broadcast_to(diagonal.astype(dtype), flat_position.shape)

        def velocity_of(momentum):
            return matrix @ momentum if dense else diagonal * momentum

        def energy_and_grad(position):
            energy, grad = jax.value_and_grad(lambda y: scalar_energy(self.energy_fn, unravel(y)))(
                position.astype(chain_dtype)
            )
            return energy.astype(energy_dtype), grad.astype(dtype)

        num_dims = flat_position.size
        depth_max = self.max_tree_depth
        draws = nuts_draws(key, num_dims, depth_max, dtype)
        if dense:
            factor = jnp.linalg.cholesky(matrix)
            momentum = jax.scipy.linalg.solve_triangular(factor, draws.noise, trans=1, lower=True)
            momentum = momentum * jax.lax.rsqrt(beta).astype(dtype)
        else:
            momentum = draws.noise * jax.lax.rsqrt(beta * diagonal).astype(dtype)
        start = _Point(
            flat_position.astype(dtype),
            momentum,
            velocity_of(momentum),
            state.energy,
            ravel_pytree(state.energy_grad)[0].astype(dtype),
        )
        initial_hamiltonian = start.energy + 0.5 * jnp.dot(start.momentum, start.velocity)
        step_size = jnp.asarray(self.step_size, dtype)
        threshold = self.divergence_threshold

        def leapfrog(point, signed_step):
            momentum = point.momentum - 0.5 * signed_step * point.energy_grad
            position = point.position + signed_step * velocity_of(momentum)
            # Evaluated where the state will be: the position rounded to the chain's dtype.
            position = position.astype(chain_dtype).astype(dtype)
            energy, energy_grad = energy_and_grad(position)
            momentum = momentum - 0.5 * signed_step * energy_grad
            return _Point(position, momentum, velocity_of(momentum), energy, energy_grad)

        def log_weight_of(point):
            """``(-beta (H - H_0), H)``; ``-inf`` if not finite; finite at ``beta = inf``."""
            hamiltonian = point.energy + 0.5 * jnp.dot(point.momentum, point.velocity)
            change = hamiltonian - initial_hamiltonian
            log_weight = jnp.where(change == 0, 0.0, -beta * change)
            # beta = inf: every state no higher than H_0 weighs as much as the start.
            log_weight = jnp.where(jnp.isposinf(log_weight), 0.0, log_weight)
            finite = jnp.isfinite(point.energy) & jnp.all(jnp.isfinite(point.energy_grad))
            finite = finite & ~jnp.isnan(log_weight)
            return jnp.where(finite, log_weight, -jnp.inf), hamiltonian

        def check_subtree(carry):
            row, _, subtree_momentum_sum, velocity, checkpoint_velocity, checkpoint_sum = carry
            rho = subtree_momentum_sum - checkpoint_sum[row]
            turning = (jnp.dot(checkpoint_velocity[row], rho) <= 0) | (jnp.dot(velocity, rho) <= 0)
            return (
                row - 1,
                turning,
                subtree_momentum_sum,
                velocity,
                checkpoint_velocity,
                checkpoint_sum,
            )

        def merge_subtree(tree, new, forward, subtree_log_weight, subtree_sum, subtree_proposal):
            take = draws.merge_uniform[tree.depth] < jnp.exp(subtree_log_weight - tree.log_weight)
            left = _where(forward, tree.left, new)
            right = _where(forward, new, tree.right)
            momentum_sum = tree.momentum_sum + subtree_sum
            depth = tree.depth + 1
            next_forward = draws.forward[jnp.minimum(depth, depth_max - 1)]
            return (
                left,
                right,
                _where(next_forward, right, left),
                momentum_sum,
                jnp.logaddexp(tree.log_weight, subtree_log_weight),
                _where(take, subtree_proposal, tree.proposal),
                tree.moved | take,
                depth,
                _turning(left.velocity, right.velocity, momentum_sum),
                jnp.zeros_like(tree.leaf),
            )

        def extend_subtree(tree, new, forward, subtree_log_weight, subtree_sum, subtree_proposal):
            del forward, subtree_log_weight, subtree_sum, subtree_proposal
            return (
                tree.left,
                tree.right,
                new,
                tree.momentum_sum,
                tree.log_weight,
                tree.proposal,
                tree.moved,
                tree.depth,
                jnp.asarray(False),
                tree.leaf + 1,
            )

        def body(tree: _Tree) -> _Tree:
            forward = draws.forward[tree.depth]
            new = leapfrog(tree.edge, jnp.where(forward, step_size, -step_size))
            log_weight, hamiltonian = log_weight_of(new)
            is_divergent = ~(-log_weight <= threshold)
            acceptance = jnp.exp(jnp.minimum(log_weight, 0.0))
            first = tree.leaf == 0
            uniform = leaf_uniform(draws, tree.num_steps)

            # Progressive uniform sampling within the new subtree.
            subtree_log_weight = jnp.where(
                first, log_weight, jnp.logaddexp(tree.subtree_log_weight, log_weight)
            )
            take_leaf = first | (uniform < jnp.exp(log_weight - subtree_log_weight))
            candidate = _Proposal(new.position, new.energy, new.energy_grad, hamiltonian)
            subtree_proposal = _where(take_leaf, candidate, tree.subtree_proposal)
            subtree_sum = jnp.where(first, new.momentum, tree.subtree_momentum_sum + new.momentum)

            # U-turns of the subtrees that end at this leaf (iterative checkpoints): an
            # even leaf opens checkpoint idx_max, an odd one closes [idx_min, idx_max].
            idx_min, idx_max = _checkpoint_range(tree.leaf)
            opens = tree.leaf % 2 == 0
            checkpoint_velocity = jax.lax.dynamic_update_index_in_dim(
                tree.checkpoint_velocity,
                jnp.where(opens, new.velocity, tree.checkpoint_velocity[idx_max]),
                idx_max,
                0,
            )
            checkpoint_sum = jax.lax.dynamic_update_index_in_dim(
                tree.checkpoint_momentum_sum,
                jnp.where(opens, subtree_sum - new.momentum, tree.checkpoint_momentum_sum[idx_max]),
                idx_max,
                0,
            )
            _, subtree_turning, *_ = jax.lax.while_loop(
                lambda carry: (carry[0] >= idx_min) & ~carry[1],
                check_subtree,
                (
                    idx_max,
                    jnp.asarray(False),
                    subtree_sum,
                    new.velocity,
                    checkpoint_velocity,
                    checkpoint_sum,
                ),
            )
            stop = is_divergent | subtree_turning

            # A whole subtree that neither turned nor diverged joins the trajectory.
            merge = (tree.leaf == (1 << tree.depth) - 1) & ~stop
            (
                left,
                right,
                edge,
                momentum_sum,
                tree_log_weight,
                proposal,
                moved,
                depth,
                tree_turning,
                leaf,
            ) = jax.lax.cond(
                merge,
                merge_subtree,
                extend_subtree,
                tree,
                new,
                forward,
                subtree_log_weight,
                subtree_sum,
                subtree_proposal,
            )
            return _Tree(
                left=left,
                right=right,
                edge=edge,
                momentum_sum=momentum_sum,
                log_weight=tree_log_weight,
                proposal=proposal,
                moved=moved,
                subtree_momentum_sum=subtree_sum,
                subtree_log_weight=subtree_log_weight,
                subtree_proposal=subtree_proposal,
                checkpoint_velocity=checkpoint_velocity,
                checkpoint_momentum_sum=checkpoint_sum,
                depth=depth,
                leaf=leaf,
                num_steps=tree.num_steps + 1,
                sum_acceptance=tree.sum_acceptance + acceptance,
                is_divergent=is_divergent,
                done=stop | tree_turning | (depth == depth_max),
            )

        zero = jnp.zeros((), dtype)
        start_proposal = _Proposal(
            start.position, start.energy, start.energy_grad, initial_hamiltonian
        )
        checkpoints = jnp.zeros((depth_max, num_dims), dtype)
        initial = _Tree(
            left=start,
            right=start,
            edge=start,
            momentum_sum=start.momentum,
            log_weight=zero,
            proposal=start_proposal,
            moved=jnp.asarray(False),
            subtree_momentum_sum=jnp.zeros_like(start.momentum),
            subtree_log_weight=zero,
            subtree_proposal=start_proposal,
            checkpoint_velocity=checkpoints,
            checkpoint_momentum_sum=checkpoints,
            depth=jnp.zeros((), jnp.int32),
            leaf=jnp.zeros((), jnp.int32),
            num_steps=jnp.zeros((), jnp.int32),
            sum_acceptance=zero,
            is_divergent=jnp.asarray(False),
            done=jnp.asarray(False),
        )
        tree = jax.lax.while_loop(lambda tree: ~tree.done, body, initial)

        proposal = tree.proposal
        position = unravel(proposal.position.astype(chain_dtype))
        energy_grad = unravel(proposal.energy_grad.astype(chain_dtype))
        energy_change = proposal.hamiltonian - initial_hamiltonian
        info = NUTSInfo(
            acceptance_rate=(tree.sum_acceptance / tree.num_steps).astype(dtype),
            is_accepted=tree.moved,
            is_divergent=tree.is_divergent,
            energy_change=jnp.where(tree.moved, energy_change, 0.0).astype(energy_dtype),
            tree_depth=tree.depth,
            num_integration_steps=tree.num_steps,
        )
        new_state = LangevinState(position, proposal.energy, energy_grad)
        return new_state, info


def _where(condition, x, y):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), x, y)


def nuts(
    energy_fn: EnergyFn,
    step_size: jax.typing.ArrayLike,
    inverse_mass_matrix: ArrayTree | None = None,
    *,
    max_tree_depth: int = 10,
    divergence_threshold: jax.typing.ArrayLike = DIVERGENCE_THRESHOLD,
) -> NoUTurnSampler:
    """No-U-Turn Sampler kernel (see :class:`NoUTurnSampler` and the module docstring).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable.
        step_size: leapfrog step size (> 0); tune it with
            :func:`statjax.samplers.window_adaptation`.
        inverse_mass_matrix: ``M^-1``, diagonal (a scalar or a pytree shaped like
            the position) or dense (a ``(D, D)`` positive-definite array), as for
            :func:`statjax.samplers.hmc`. ``None`` means the identity.
        max_tree_depth: at most this many doublings (``2^max_tree_depth - 1``
            leapfrog steps per transition); static.
        divergence_threshold: a tempered energy error ``beta (H - H_0)`` above
            this is a divergence (Stan: 1000).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.samplers.nuts import nuts
        >>> kernel = nuts(lambda x: 0.5 * jnp.sum(x**2), 0.5)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.zeros(3)), 1.0)
        >>> int(info.num_integration_steps) >= 1
        True
    """
    check_positive("step_size", step_size)
    check_positive("divergence_threshold", divergence_threshold)
    max_tree_depth = check_count("max_tree_depth", max_tree_depth)
    if inverse_mass_matrix is None:
        inverse_mass_matrix = 1.0
    check_inverse_mass_matrix(inverse_mass_matrix)
    return NoUTurnSampler(
        as_pytree_fn(energy_fn),
        jnp.asarray(step_size),
        jax.tree_util.tree_map(jnp.asarray, inverse_mass_matrix),
        jnp.asarray(divergence_threshold),
        max_tree_depth,
    )


__all__ = [
    "NUTSDraws",
    "NUTSInfo",
    "NUTSState",
    "NoUTurnSampler",
    "leaf_uniform",
    "nuts",
    "nuts_draws",
]
