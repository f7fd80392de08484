"""Shared checks of the experiment tests: a second run, killed and resumed, gives the same files."""

import pytest

from statjax.runs import Run, create_run, execute, open_run


@pytest.fixture
def rerun_with_a_kill(monkeypatch):
    """Run ``config`` again, stopped right after its first checkpoint, then resumed.

    A ``KeyboardInterrupt`` raised as the first ``Run.save_checkpoint`` returns
    stands for a kill at that moment (the checkpoint is on disk, nothing after it
    ran); ``statjax run --resume`` is then ``open_run`` + ``execute``. Returns the
    run folder, whose ``summary.json`` and ``metrics.jsonl`` must equal the
    uninterrupted run's byte for byte (the second run with the same seed is also
    the determinism check of ``summary.json``).
    """

    def rerun(config):
        save = Run.save_checkpoint
        saved = []

        def save_then_stop(self, step, state, extras=None):
            save(self, step, state, extras)
            saved.append(step)
            if len(saved) == 1:
                raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(Run, "save_checkpoint", save_then_stop)
            interrupted = create_run(config, quiet=True)
            with pytest.raises(KeyboardInterrupt):
                execute(interrupted)
            interrupted.close()
            resumed = open_run(interrupted.directory, quiet=True)
            execute(resumed)
            resumed.close()
        assert len(saved) >= 2, f"the run has a single checkpoint ({saved}): nothing to resume"
        return resumed.directory

    return rerun


@pytest.fixture
def assert_same_files():
    """``assert_same_files(first_dir, second_dir)``: summary and metrics byte-identical."""

    def check(first, second, names=("summary.json", "metrics.jsonl")) -> None:
        for name in names:
            assert (first / name).read_bytes() == (second / name).read_bytes(), name

    return check
