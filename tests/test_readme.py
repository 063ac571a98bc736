"""The README's example runs as written and prints what its comments say."""
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_api_example_runs_and_its_comments_hold():
    block = re.search(r"## The one-call API.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines == ["torch.Size([2, 3, 224, 224])", "5", "['espresso', 'cup', 'consomme']"]


def test_readme_your_own_model_example_runs_and_its_comments_hold():
    block = re.search(r"## Your own model.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines == ["torch.Size([1, 1, 224, 224]) 2", "net.norm", "torch.Size([2, 1, 64, 64])"]
