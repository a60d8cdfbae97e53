"""The README's Python code blocks run as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
pytestmark = pytest.mark.usefixtures("allow_underflow")

BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, capsys):
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), namespace)
    out = capsys.readouterr().out
    assert out.strip(), "each README example prints its result"
    if "evaluate" in BLOCKS[index]:
        assert eval(out.strip().splitlines()[-1].split("accuracy': ")[1].rstrip("}")) >= 0.95
    if "gradcheck" in BLOCKS[index]:
        assert out.strip().splitlines()[-1] == "True"
