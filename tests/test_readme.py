"""The README's code blocks run, and the IR it shows is what the code prints."""

import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_first_two_lines_are_the_install_commands():
    first = blocks("bash")[0].splitlines()
    assert first[0] == ("python3 -m pip install torch==2.13.0 -e . && nexus compile "
                        "examples/cnn.py:small_cnn --target h100 --format html -o cnn-report.html")
    assert first[1] == "python3 -m pip install torch==2.13.0 -e '.[dev]' && python3 -m pytest"


REGISTRIES = [("passes.base", "_PASSES"), ("passes.rewrites.registry", "_REWRITES"),
              ("frontends.registry", "_FRONTENDS"), ("runtime.meters", "_METERS"),
              ("nexus_ir.registry", "_REGISTRY"), ("lowering.rules", "_RULES"),
              ("lowering.rules", "_FACTS")]


@contextlib.contextmanager
def restored_registries():
    """What the README's extension examples register is gone after the test."""
    import importlib
    tables = [getattr(importlib.import_module(m), name) for m, name in REGISTRIES]
    saved = [dict(t) for t in tables]
    try:
        yield
    finally:
        for table, before in zip(tables, saved):
            table.clear()
            table.update(before)


def test_python_blocks_run_and_printed_ir_matches():
    namespace: dict = {}
    out = io.StringIO()
    with restored_registries(), contextlib.redirect_stdout(out):
        for code in blocks("python"):
            exec(compile(code, "README.md", "exec"), namespace)
    printed = out.getvalue()
    assert printed.startswith("4089184256\n")       # the MAC count the README's comment states
    shown = blocks("text")[0]                       # the IR the README says the code prints
    assert shown in printed
    assert namespace["graph"].nodes[0].annotations["weight_bytes"] == 10 * 784 * 4
    # the extension examples: a new op costed by its rule (max + mul per element of 8x1024),
    # a user rewrite offered beside the built-in swaps, a frontend taking a new kind of
    # object (784·256 + 256·10 MACs), a meter read through measure()
    assert "16384\n" in printed
    assert "['swap gelu->gelu_tanh', 'swap gelu->relu', 'swap gelu->silu']\n" in printed
    assert "203264\n" in printed
    assert "0.5\n" in printed


def _run_nexus(command: str, cwd: Path) -> subprocess.CompletedProcess:
    args = shlex.split(command.split("#")[0])
    assert args[0] == "nexus", command
    return subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", *args[1:]], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_main_command_writes_the_html_report(tmp_path):
    main = blocks("bash")[0].splitlines()[0].split(" && ", 1)[1]
    root = Path(__file__).resolve().parents[1]
    out = _run_nexus(main.replace("-o cnn-report.html", f"-o {tmp_path}/cnn-report.html"), root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("NEXUS energy report: SmallCNN on h100")
    assert (tmp_path / "cnn-report.html").read_text().startswith("<!DOCTYPE html>")


def test_each_example_compiles_with_its_readme_command():
    commands = [line for line in blocks("bash")[1].splitlines() if line.startswith("nexus")]
    assert [c.split()[2].split(":")[0] for c in commands] == [
        "examples/cnn.py", "examples/transformer.py", "examples/sklearn_pipeline.py",
        "examples/xgboost_model.json"]
    root = Path(__file__).resolve().parents[1]
    for command in commands:
        out = _run_nexus(command, root)
        assert out.returncode == 0, (command, out.stderr)
        assert out.stdout.startswith("NEXUS energy report:") and "unmodeled" not in out.stdout
