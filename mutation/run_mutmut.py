"""`make mutate`, part one: mutmut over the submission validation, the column and unit handling, the plan
parser and the ingest inbox logic, each killed (or not) by its own test files.

mutmut imports the mutated code from `mutants/` beside its configuration and knows only the layouts
`./`, `src/` and `source/`, while regreen lives in `ingest/regreen`. So the run happens in a scratch
folder (`.mutate/`, not committed) laid out as mutmut expects: the package at its top, the tests and the
seeds beside it (regreen.project finds the seeds two folders above a module). Prints the score per file
and writes `.mutate/mutants/mutmut-cicd-stats.json`.

    .venv/bin/python mutation/run_mutmut.py [--max-children 2] [MUTANT_GLOB ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutate"
# The module under mutation and the tests that own it.
TARGETS = {
    "regreen/submissions/validate.py": ["tests/test_submission_validate.py"],
    "regreen/submissions/columns.py": [
        "tests/test_submission_validate.py",
        "tests/test_submission_reader.py",
    ],
    "regreen/plan.py": ["tests/test_plan_parser.py"],
    "regreen/submissions/ingest.py": ["tests/test_ingest.py"],
}
# Not run: they start `regreen` as a child process (which imports the installed, unmutated package) or
# time real signals; the mutants of what they cover are counted against the tests above only.
DESELECT = ["-k", "not killing and not locked and not crash"]


def _config() -> str:
    tests = sorted({t for owned in TARGETS.values() for t in owned})
    lines = [
        "[tool.mutmut]",
        f"source_paths = {json.dumps(list(TARGETS))}",
        'also_copy = ["seeds/", "tests/", "regreen/"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        f"pytest_add_cli_args = {json.dumps(['-q', '-p', 'no:cacheprovider', *DESELECT])}",
        "",
    ]
    return "\n".join(lines)


def prepare() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    shutil.copytree(
        ROOT / "ingest" / "regreen", WORK / "regreen", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "tests", WORK / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "seeds", WORK / "seeds")
    (WORK / "pyproject.toml").write_text(_config(), encoding="utf-8")


def scores() -> dict[str, dict[str, int]]:
    """Per mutated file: mutants killed, survived, and the rest (timeouts, no tests, suspicious)."""
    out: dict[str, dict[str, int]] = {}
    listing = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=WORK, capture_output=True, text=True
    ).stdout
    for line in listing.splitlines():
        if ":" not in line:
            continue
        name, status = (part.strip() for part in line.rsplit(":", 1))
        module = name.split("__mutmut_")[0].rsplit(".", 1)[0].replace("x_", "")
        counts = out.setdefault(module.split(".x")[0], {})
        counts[status] = counts.get(status, 0) + 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("mutants", nargs="*", help="mutant names or globs, as `mutmut run` takes them")
    args = parser.parse_args()
    prepare()
    run = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *args.mutants],
        cwd=WORK,
    )
    subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=WORK, check=False)
    stats = json.loads((WORK / "mutants" / "mutmut-cicd-stats.json").read_text(encoding="utf-8"))
    print(json.dumps(stats, indent=2))
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
