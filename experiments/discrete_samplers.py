r"""Discrete samplers compared: effective samples per second on a 2-D Ising model and an RBM.

Samplers (one statjax kernel each, all run by :func:`statjax.run_chains`):

- ``gwg``: Gibbs-with-Gradients (Grathwohl et al. 2021), one gradient-guided flip
  per step, Metropolis–Hastings corrected;
- ``dmala``: discrete MALA (Zhang et al. 2022), every coordinate proposed at
  once, Metropolis–Hastings corrected (``dmala_step_size``);
- ``gibbs``: the Ising model's checkerboard heat bath (one sweep per step); the
  RBM's block Gibbs sweep ``v -> h -> v``;
- ``metropolis``: the Ising model's checkerboard Metropolis sweep; for the RBM,
  single-flip Metropolis on the free energy ``F(v)``.

Models: the periodic ``ising_size``\ :sup:`2` Ising lattice at ``beta_c = ln(1 +
sqrt 2) / 2`` and an RBM with random weights (``rbm_visible`` x ``rbm_hidden``,
``N(0, rbm_weight_scale^2)``) sampled on its visible units at ``beta = 1``
(through ``F(v)``; block Gibbs on the joint has the same visible marginal).
``num_chains`` chains start from uniform random configurations and run
``num_steps`` steps; the first half is discarded. The observable is the energy
(``F(v)`` for the RBM); its bulk ESS (:func:`statjax.diagnostics.effective_sample_size`,
all chains) per 1000 steps and its mean with the standard error ``sd / sqrt(ESS)``
go to ``summary.json`` (the samplers must agree on the mean); the wall-clock
seconds of the timed run (compiled beforehand by an identical warm-up run) go to
``timings.json``, and ``ess.png`` shows ESS per second. A step is not the same
work for every sampler (a sweep, one flip, one proposal of every coordinate):
per second is the fair unit.

Example:
    $ statjax run configs/discrete_samplers.yaml
"""

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial
from matplotlib.figure import Figure

import statjax
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.diagnostics import effective_sample_size
from statjax.energy.ising import square_ising
from statjax.models.rbm import block_gibbs, free_energy, init_rbm
from statjax.pytree import Pytree
from statjax.runs import Run
from statjax.samplers.discrete import dmala, gibbs_with_gradients
from statjax.samplers.lattice import checkerboard

MODELS = ("ising", "rbm")
SAMPLERS = ("gwg", "dmala", "gibbs", "metropolis")
BETA_C = math.log(1 + math.sqrt(2)) / 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the discrete-sampler comparison; a checkpoint per (model, sampler)."""

    models: tuple[str, ...] = setting(MODELS, min_length=1, help="ising and/or rbm")
    samplers: tuple[str, ...] = setting(SAMPLERS, min_length=1, help="samplers compared")
    ising_size: int = setting(16, ge=2, help="L of the L x L lattice at beta_c")
    rbm_visible: int = setting(64, ge=2, help="visible units")
    rbm_hidden: int = setting(32, ge=1, help="hidden units")
    rbm_weight_scale: float = setting(0.5, gt=0, help="s.d. of the random weights")
    dmala_step_size: float = setting(1.0, gt=0, help="DMALA's alpha")
    num_chains: int = setting(16, ge=2, help="independent chains")
    num_steps: int = setting(4000, ge=8, help="steps per chain (the first half discarded)")

    def validate(self) -> None:
        """Known models and samplers; an even number of steps."""
        for name in self.models:
            if name not in MODELS:
                raise ConfigError("models", name, f"one of {MODELS}")
        for name in self.samplers:
            if name not in SAMPLERS:
                raise ConfigError("samplers", name, f"one of {SAMPLERS}")
        if self.num_steps % 2:
            raise ConfigError("num_steps", self.num_steps, "an even number")


class SingleFlip(Pytree):
    """Flip one uniformly chosen coordinate of a {0, 1} vector: a symmetric proposal."""

    def __call__(self, key, visible):
        index = jax.random.randint(key, (), 0, visible.shape[-1])
        return visible.at[index].set(1.0 - visible[index])


def _rbm_energy(position):
    """The visible configuration of a state: block Gibbs keeps (visible, hidden)."""
    return getattr(position, "visible", position)


def _setup(config: Config, model: str, sampler: str, key):
    """(kernel, initial positions, beta, observe) for one pair."""
    key_init, key_model = jax.random.split(key)
    if model == "ising":
        lattice = square_ising(config.ising_size)
        kernels = {
            "gwg": lambda: gibbs_with_gradients(lattice),
            "dmala": lambda: dmala(lattice, config.dmala_step_size),
            "gibbs": lambda: checkerboard(lattice, "heat_bath"),
            "metropolis": lambda: checkerboard(lattice, "metropolis"),
        }
        shape = (config.num_chains, config.ising_size, config.ising_size)
        initial = jax.random.rademacher(key_init, shape, jnp.int8)
        return kernels[sampler](), initial, BETA_C, _energy
    params = init_rbm(
        key_model, config.rbm_visible, config.rbm_hidden, weight_scale=config.rbm_weight_scale
    )
    energy = Partial(free_energy, params)
    kernels = {
        "gwg": lambda: gibbs_with_gradients(energy, values=(0, 1)),
        "dmala": lambda: dmala(energy, config.dmala_step_size, values=(0, 1)),
        "gibbs": lambda: block_gibbs(params),
        "metropolis": lambda: statjax.metropolis(energy, proposal=SingleFlip()),
    }
    initial = jax.random.bernoulli(key_init, 0.5, (config.num_chains, config.rbm_visible))
    observe = Partial(_free_energy_of, params)
    return kernels[sampler](), initial.astype(jnp.float32), 1.0, observe


def _energy(state):
    return state.energy


def _free_energy_of(params, state):
    return free_energy(params, _rbm_energy(state.position))


def _measure(config: Config, model: str, sampler: str, key) -> tuple[dict, float]:
    kernel, initial, beta, observe = _setup(config, model, sampler, key)

    def sample():
        _, trace = statjax.run_chains(
            kernel, jax.random.fold_in(key, 1), initial, config.num_steps, beta=beta,
            observe=lambda state, info: (observe(state), info.acceptance_rate),
        )  # fmt: skip
        return jax.block_until_ready(trace)

    sample()  # compiles
    start = time.perf_counter()
    energies, acceptance = sample()
    seconds = time.perf_counter() - start
    kept = np.asarray(energies, np.float64)[config.num_steps // 2 :]
    ess = float(effective_sample_size(kept, "bulk"))
    result = {
        "ess_bulk": ess,
        "ess_per_1000_steps": 1000.0 * ess / (config.num_steps // 2),
        "mean_energy": float(kept.mean()),
        "energy_standard_error": float(kept.std() / math.sqrt(ess)),
        "acceptance_rate": float(np.mean(np.asarray(acceptance)[config.num_steps // 2 :])),
    }
    return result, seconds


def run(config: Config, run: Run) -> dict:
    """Measure every (model, sampler) pair in turn, checkpointing; plot ESS per second."""
    pairs = [(model, sampler) for model in config.models for sampler in config.samplers]
    fields = ("ess_bulk", "ess_per_1000_steps", "mean_energy", "energy_standard_error",
              "acceptance_rate")  # fmt: skip
    initial = {name: np.full(len(pairs), np.nan) for name in fields}
    key = jax.random.key(config.seed)

    def advance(state, chunk):
        state = {name: np.array(value) for name, value in state.items()}
        model, sampler = pairs[chunk.start]
        # One model key per model (the same RBM for every sampler); chains differ by sampler.
        result, seconds = _measure(
            config, model, sampler, jax.random.fold_in(key, MODELS.index(model))
        )
        run.record_timing(f"{model}/{sampler}", seconds)
        for name in fields:
            state[name][chunk.start] = result[name]
        return state, {"model": model, "sampler": sampler, **result}

    state = run.loop(initial, advance, len(pairs), log_every=1, desc="(model, sampler)")
    table = {
        model: {sampler: {name: float(state[name][index]) for name in fields}
                for index, (m, sampler) in enumerate(pairs) if m == model}
        for model in config.models
    }  # fmt: skip
    run.save_figure(_figure(config, table, run.timings()), "ess.png")
    return {
        "experiment": "GWG, DMALA, Gibbs and Metropolis: ESS of the energy",
        "ising_beta": BETA_C,
        "table": table,
    }


def _figure(config: Config, table: dict, timings: dict) -> Figure:
    figure = Figure(figsize=(4.0 * len(table), 3.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(table)))
    for ax, (model, rows) in zip(axes, table.items(), strict=True):
        names = list(rows)
        rates = [rows[name]["ess_bulk"] / max(timings.get(f"{model}/{name}", np.nan), 1e-9)
                 for name in names]  # fmt: skip
        ax.bar(names, rates)
        ax.set_yscale("log")
        ax.set_ylabel("ESS of the energy per second")
        ax.set_title(model, fontsize=9)
    return figure
