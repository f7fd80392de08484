"""statjax experiments: one module per experiment, each run by ``statjax run CONFIG``.

An experiment module defines ``Config`` (a frozen dataclass extending
:class:`statjax.config.ExperimentConfig`) and ``run(config, run) -> dict`` (the
summary), advances through the one loop :meth:`statjax.runs.Run.loop`, and names
the optional packages it imports lazily in ``REQUIRES``; see ``docs/experiments.md``.
:mod:`experiments.common` holds the data and model helpers they share (the one
digits loader, the classifier MLP and its training).
"""
