"""A VAE with a latent energy-based prior against the same VAE with a Gaussian prior, on digits.

scikit-learn's 8x8 digits, binarised (pixel > 8), one stratified train/test split
(``seed``). Two models share the encoder ``q(z|x)``, the Bernoulli decoder, the
optimizer, the initial encoder/decoder parameters, the minibatches and the
training rule (:mod:`statjax.models.vae`):

- **ebm_prior**: ``p_alpha(z) ∝ exp(-E_alpha(z)) N(z; 0, I)``, ``E_alpha`` a small
  MLP learned by Pang et al. (2020)'s rule, with short-run ULA in latent space
  for the prior (``K_0`` steps from ``N(0, I)``) and the posterior (``K_1`` steps
  from ``N(0, I)`` as in the paper, or from the encoder's draw, which runs away:
  ``docs/design-decisions.md``); the encoder is trained on the ELBO alone and is
  the importance-sampling proposal;
- **gaussian_prior**: the same VAE with ``E_alpha = 0``.

Each is trained from ``num_seeds`` seeds. On the held-out images: the test
log-likelihood by importance sampling from the encoder (``K`` samples per
image; ``log Z_alpha`` by AIS from ``N(0, I)``), its standard error, the ELBO,
and, across seeds, mean ± standard error and the paired difference.
``samples.png``: test images, and decoded samples of both priors (seed 0).

Example:
    $ statjax run configs/vae_ebm_digits.yaml
"""

import dataclasses
import functools
import time
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

import statjax.random
from experiments import common
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import vae
from statjax.runs import Run

REQUIRES = ("sklearn",)
"""Optional packages this experiment imports lazily (checked before any work)."""

MODELS = ("ebm_prior", "gaussian_prior")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Langevin:
    """Short-run Langevin in latent space (time steps: ``s^2 / 2`` of the paper's ``s``)."""

    kind: Literal["ula", "mala"] = setting("ula", help="kernel (the paper: ULA)")
    num_prior_steps: int = setting(60, ge=1, help="K_0, prior chain steps (paper: 60)")
    prior_step_size: float = setting(0.08, gt=0, help="prior time step (paper: 0.4^2/2)")
    num_posterior_steps: int = setting(20, ge=0, help="K_1, posterior steps (paper: 20)")
    posterior_step_size: float = setting(0.05, gt=0, help="posterior time step (paper: 0.005)")
    posterior_start: Literal["encoder", "noise"] = setting(
        "noise", help="posterior chains start at N(0, I) (the paper) or at q's draw"
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Evaluation:
    """The held-out estimates."""

    num_importance_samples: int = setting(1000, ge=2, help="K per test image")
    num_elbo_samples: int = setting(100, ge=1, help="draws per image of the ELBO's terms")
    ais_chains: int = setting(1000, ge=2, help="AIS chains for log Z_alpha")
    ais_temperatures: int = setting(200, ge=2, help="AIS path points from N(0, I) to p_alpha")
    ais_step_size: float = setting(0.1, gt=0, help="MALA time step of the AIS moves")
    num_shown: int = setting(16, ge=2, help="images per row of samples.png")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the experiment. ``checkpoint_every`` counts updates."""

    latent_dim: int = setting(8, ge=1, help="size of z")
    hidden_sizes: tuple[int, ...] = setting((128,), ge=1, min_length=1, help="encoder/decoder")
    prior_hidden_sizes: tuple[int, ...] = setting((100, 100), ge=1, min_length=1, help="E_alpha")
    test_fraction: float = setting(0.2, gt=0, lt=1, help="share of the images held out")
    num_seeds: int = setting(3, ge=2, help="training seeds per model (error bars across them)")
    num_steps: int = setting(2000, ge=1, help="updates of each model and seed")
    batch_size: int = setting(64, ge=2, help="images per update (and chains per sampler)")
    learning_rate: float = setting(1e-3, gt=0, help="Adam step")
    langevin: Langevin = setting(Langevin(), help="latent-space chains of training")
    evaluation: Evaluation = setting(Evaluation(), help="held-out estimates")

    def validate(self) -> None:
        """Checkpoints fall on whole chunks (one compiled chunk length)."""
        if self.num_steps % self.checkpoint_every:
            raise ConfigError(
                "num_steps",
                self.num_steps,
                f"a multiple of checkpoint_every ({self.checkpoint_every})",
            )


def _model(config: Config, name: str) -> vae.LatentEBMVAE:
    hidden = tuple(config.hidden_sizes)
    prior = vae.PriorEnergyMLP(tuple(config.prior_hidden_sizes)) if name == "ebm_prior" else None
    return vae.latent_ebm_vae(
        vae.VAEEncoder(config.latent_dim, hidden),
        vae.VAEDecoder(common.NUM_PIXELS, hidden),
        prior,
        config.latent_dim,
    )


@functools.lru_cache(maxsize=8)
def _adam(learning_rate: float) -> optax.GradientTransformation:
    # One object per learning rate: the optimizer is a static argument of the compiled
    # training scan, and a new closure would compile it again (a second run, a resume).
    return optax.adam(learning_rate)


def _settings(config: Config) -> vae.VAESettings:
    chains = config.langevin
    return vae.VAESettings(
        num_prior_steps=chains.num_prior_steps,
        prior_step_size=chains.prior_step_size,
        num_posterior_steps=chains.num_posterior_steps,
        posterior_step_size=chains.posterior_step_size,
        start_from_encoder=1.0 if chains.posterior_start == "encoder" else 0.0,
    )


def _seed_key(config: Config, seed: int) -> jax.Array:
    return jax.random.fold_in(jax.random.key(config.seed), seed)


def run(config: Config, run: Run) -> dict:
    """Train both models from every seed (checkpointed), then evaluate and plot."""
    data = common.load_digits(config.seed, test_fraction=config.test_fraction, scaling="binary")
    models = {name: _model(config, name) for name in MODELS}
    optimizer = _adam(config.learning_rate)
    settings = _settings(config)
    states = {}
    for name, model in models.items():
        states[name] = {}
        for seed in range(config.num_seeds):
            # The same key per seed for both models: equal encoder/decoder initial
            # parameters, minibatches and encoder draws.
            key = _seed_key(config, seed)
            params = vae.init_vae_params(model, jax.random.fold_in(key, 0), common.NUM_PIXELS)
            states[name][str(seed)] = vae.init_vae_training(
                jax.random.fold_in(key, 1), params, optimizer
            )

    def advance(states, chunk):
        metrics = {}
        for name, model in models.items():
            values = []
            started = time.perf_counter()
            for seed, state in states[name].items():
                states[name][seed], chunk_metrics = vae.train_vae(
                    state, data["x_train"], model=model, optimizer=optimizer,
                    num_steps=chunk.length, batch_size=config.batch_size, settings=settings,
                    langevin=config.langevin.kind,
                )  # fmt: skip
                values.append(jax.tree_util.tree_map(lambda v: float(jnp.mean(v)), chunk_metrics))
            run.record_timing(f"train_{name}", time.perf_counter() - started)
            for field in ("gaussian_elbo", "kl", "posterior_log_likelihood"):
                metrics[f"{name}_{field}"] = float(np.mean([getattr(v, field) for v in values]))
            if name == "ebm_prior":
                gap = [v.energy_posterior - v.energy_prior for v in values]
                metrics["ebm_prior_energy_gap_posterior_minus_prior"] = float(np.mean(gap))
        return states, metrics

    states = run.loop(states, advance, config.num_steps, desc="updates")
    with run.timed("evaluation"):
        results = {
            name: [
                _evaluate(config, models[name], states[name][str(seed)].params, data, seed)
                for seed in range(config.num_seeds)
            ]
            for name in MODELS
        }
    summary: dict = {
        "experiment": "VAE with a latent EBM prior vs a Gaussian prior on binarised digits",
        "num_updates": config.num_steps,
        "num_seeds": config.num_seeds,
        "num_test_images": len(data["x_test"]),
        "units": "nats per image (64 binary pixels)",
    }
    for name in MODELS:
        summary[name] = _across_seeds(results[name])
    difference = np.array(
        [e["test_log_likelihood"] - g["test_log_likelihood"]
         for e, g in zip(results["ebm_prior"], results["gaussian_prior"], strict=True)]
    )  # fmt: skip
    summary["log_likelihood_difference_ebm_minus_gaussian"] = {
        "per_seed": difference.tolist(),
        "mean": float(difference.mean()),
        "standard_error_across_seeds": float(difference.std(ddof=1) / np.sqrt(len(difference))),
    }
    run.save_figure(_samples_figure(config, models, states, data), "samples.png")
    return summary


def _evaluate(config: Config, model, params, data, seed: int) -> dict:
    """Held-out log-likelihood (IS), ELBO and log Z_alpha of one trained model."""
    evaluation = config.evaluation
    key = jax.random.fold_in(_seed_key(config, seed), 2)
    x = data["x_test"]
    if model.prior is None:
        log_z, log_z_error = 0.0, 0.0
    else:
        ais = vae.prior_log_z_ais(
            model, params, jax.random.fold_in(key, 0), evaluation.ais_chains,
            evaluation.ais_temperatures, evaluation.ais_step_size,
        )  # fmt: skip
        log_z, log_z_error = float(ais.log_z), float(ais.standard_error)
    log_likelihood, is_error = (
        np.asarray(v, np.float64)
        for v in vae.importance_log_likelihood(
            model,
            params,
            x,
            jax.random.fold_in(key, 1),
            evaluation.num_importance_samples,
            log_z,
        )
    )
    shape = (evaluation.num_elbo_samples, len(x), model.latent_dim)
    noise = statjax.random.normal(jax.random.fold_in(key, 2), shape)
    terms = _elbo_terms(model, params, x, noise)
    elbo = np.asarray(vae.elbo(terms, log_z), np.float64)
    return {
        "test_log_likelihood": float(log_likelihood.mean()),
        # Spread over images: the error of the test-set mean as an estimate of E_x log p(x).
        "test_log_likelihood_standard_error_over_images": float(
            log_likelihood.std(ddof=1) / np.sqrt(len(log_likelihood))
        ),
        # Importance-sampling error of the test-set mean (images independent).
        "test_log_likelihood_importance_standard_error": float(
            np.sqrt(np.sum(is_error**2)) / len(is_error)
        ),
        "test_elbo": float(elbo.mean()),
        "test_kl": float(np.mean(terms.kl)),
        "test_reconstruction": float(np.mean(terms.reconstruction)),
        "log_z_prior": log_z,
        "log_z_prior_standard_error": log_z_error,
    }


_elbo_terms = jax.jit(vae.elbo_terms, static_argnums=0)


def _across_seeds(results: list[dict]) -> dict:
    summary: dict = {"per_seed": results}
    for field in ("test_log_likelihood", "test_elbo"):
        values = np.array([r[field] for r in results])
        summary[field] = float(values.mean())
        summary[f"{field}_standard_error_across_seeds"] = float(
            values.std(ddof=1) / np.sqrt(len(values))
        )
    return summary


def _samples_figure(config: Config, models, states, data) -> Figure:
    """Test images, then decoded prior samples of both models (seed 0)."""
    count = config.evaluation.num_shown
    rows = [("test images (binarised)", data["x_test"][:count])]
    chains = config.langevin
    for name, model in models.items():
        params = states[name]["0"].params
        z = vae.sample_prior(
            model, params, jax.random.fold_in(_seed_key(config, 0), 3), count,
            chains.num_prior_steps, chains.prior_step_size, langevin=chains.kind,
        )  # fmt: skip
        label = (
            f"EBM prior: {chains.num_prior_steps} {chains.kind.upper()} steps from N(0, I), decoded"
            if model.prior is not None
            else "Gaussian prior: z ~ N(0, I), decoded"
        )
        rows.append((label + " (pixel probabilities)", np.asarray(_decode(model, params, z))))
    figure = Figure(figsize=(count * 0.45, 2.6), layout="constrained")
    for ax, (title, images) in zip(figure.subplots(len(rows), 1), rows, strict=True):
        tiles = np.pad(images.reshape(-1, 8, 8), ((0, 0), (1, 0), (1, 0)), constant_values=0.0)
        ax.imshow(np.concatenate(list(tiles), axis=1), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_axis_off()
    return figure


_decode = jax.jit(lambda model, params, z: model.decode(params, z), static_argnums=0)
