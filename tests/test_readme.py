"""The README's self-contained Python examples run as written."""

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
# Blocks that only sketch an API (free names like `position`, `key`) are not run.
SELF_CONTAINED = [block for block in BLOCKS if block.lstrip().startswith("import")]


def test_readme_has_runnable_examples():
    assert len(SELF_CONTAINED) >= 2


@pytest.mark.parametrize("index", range(len(SELF_CONTAINED)))
def test_readme_example_runs(index):
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(SELF_CONTAINED[index], f"README block {index}", "exec"), {})
