"""statjax experiments: one module per experiment, each run by ``statjax run CONFIG``.

An experiment module defines ``Config`` (a frozen dataclass extending
:class:`statjax.config.ExperimentConfig`) and ``run(config, run) -> dict`` (the
summary); see ``docs/experiments.md``.
"""
