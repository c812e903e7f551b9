"""The README's test command is exactly what CI runs (.ci/run), and it runs the suite as on a
machine that never ran the project: a fresh HOME and TMPDIR (#18), so no cache, /tmp/ray or
~/.ray left by an earlier run can hide a fault."""

from pathlib import Path

ROOT = Path(__file__).parents[1]
#: a fresh HOME and TMPDIR; two pytest-xdist workers on 2 cores (up to 4 on larger machines)
FRESH = "HOME=$(mktemp -d) TMPDIR=$(mktemp -d) python -m pytest -q -n auto --maxprocesses 4"


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    block = text[text.index("Run the tests"):].split("```bash\n", 1)[1].split("```", 1)[0]
    (line,) = block.strip().splitlines()
    return line


def test_readme_test_command_is_ci_and_runs_with_a_fresh_home_and_tmpdir():
    ci = (ROOT / ".ci/run").read_text().strip().splitlines()
    install, setup_and_test = ci[-2], ci[-1]
    assert readme_test_command() == f"({install}) && {setup_and_test}"
    assert setup_and_test.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    assert setup_and_test.endswith(" && " + FRESH)  # pip and the venv first, with the real HOME
