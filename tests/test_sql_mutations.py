"""Every SQL mutation `make mutate` lists still finds the text it replaces, exactly once, in its model: a
model rewritten under the list (as fct_submission_versions was in the sixth scale pass) left three of them
pointing at SQL that was gone, and `make mutate` stopped at the first. `make mutate` is not part of `make
test`, so this is where such a change is caught."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _listed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sql_mutations", ROOT / "mutation" / "sql_mutations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # where its dataclass looks itself up
    spec.loader.exec_module(module)
    return module


MUTATIONS = _listed().MUTATIONS


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_each_sql_mutation_finds_its_text_once(mutation) -> None:  # noqa: ANN001 (the module's dataclass)
    sql = (ROOT / mutation.model).read_text(encoding="utf-8")
    assert sql.count(mutation.original) == 1, f"{mutation.name}: {mutation.original!r} in {mutation.model}"
    assert sql.replace(mutation.original, mutation.mutated) != sql


def test_the_list_names_each_mutation_once() -> None:
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names)) == 13
