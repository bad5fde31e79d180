"""The README's code blocks run, and the IR it shows is what the code prints."""

import contextlib
import io
import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_first_two_lines_are_the_install_commands():
    first = blocks("bash")[0].splitlines()
    assert first[0] == ("python3 -m pip install -e . && nexus compile example:cnn --bind batch=1 "
                        "--target h100")
    assert first[1] == "python3 -m pip install -e '.[dev]' && python3 -m pytest"


def test_python_blocks_run_and_printed_ir_matches():
    from passes.base import _PASSES
    saved = dict(_PASSES)
    namespace: dict = {}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            for code in blocks("python"):
                exec(compile(code, "README.md", "exec"), namespace)
    finally:
        _PASSES.clear()
        _PASSES.update(saved)
    printed = out.getvalue()
    assert printed.startswith("4089184256\n")       # the MAC count the README's comment states
    shown = blocks("text")[0]                       # the IR the README says the code prints
    assert shown in printed
    assert namespace["graph"].nodes[0].annotations["weight_bytes"] == 10 * 784 * 4
