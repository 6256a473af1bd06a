"""The parsed plan notice, kept between nightly runs.

Parsing the notice (regreen.plan) and working out each project's township and normalised name
(regreen.submissions.reference) cost about 3 CPU-s at 130,000 projects, every night, though the notice
rarely changes. A nightly keeps what they gave in `<data-dir>/work/parsed-notice.json`, as plain columns
of numbers and text (read back in ~0.2 s; the same 260,000 objects pickled took ~1 s to load), keyed by
the notice's path and bytes and the code and seeds that read it. A run whose key matches builds the
same objects from the columns (~1 s) instead of parsing; any other run parses, and keeps its result
while dbt runs (`keep`), when the process has a core to spare. A missing, unreadable or stale file only
means parsing again; a notice that cannot be read is parsed, to raise its own error.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from regreen.log import logger
from regreen.plan import DeclaredTotal, Plan, PlanDocument, PlanProject, parse_notice
from regreen.project import SEEDS_DIR
from regreen.submissions.reference import PlanReference, ProjectRef, build_reference

CACHE_FILE = "parsed-notice.json"
_PACKAGE = Path(__file__).resolve().parent


def _key(notice: Path, data: bytes, seeds_dir: Path) -> str:
    """What the parse depends on: the notice's path (the plan records it) and bytes, regreen's code
    and the seeds the reference reads."""
    digest = hashlib.sha256(f"{notice}\0".encode() + data)
    for path in sorted(_PACKAGE.rglob("*.py")) + sorted(seeds_dir.glob("*.csv")):
        digest.update(f"\0{path}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def _columns(plan: Plan, reference: PlanReference) -> dict:
    doc = plan.document
    projects, refs = plan.projects, reference.projects
    return {
        "document": [
            doc.document_number,
            doc.title,
            doc.issued_on.isoformat(),
            doc.sha256,
            doc.source_path,
            doc.source_format,
            doc.page_count,
            doc.extractor,
        ],
        "declared": [
            [t.plan_year, t.source, t.township, t.measure, str(t.value), t.source_ref]
            for t in plan.declared_totals
        ],
        "plan_year": [p.plan_year for p in projects],
        "seq": [p.seq for p in projects],
        "name": [p.name for p in projects],
        "patches": [p.patches for p in projects],
        "area_mu": [str(p.area_mu) for p in projects],
        "source_ref": [p.source_ref for p in projects],
        "project_code": [r.project_code for r in refs],
        "normalized_name": [r.normalized_name for r in refs],
        "township_name": [r.township_name for r in refs],
        "townships": list(reference.townships),
        "township_spellings": list(reference.township_spellings),
        "township_short_names": list(reference.township_short_names),
        "replacements": list(reference.replacements),
    }


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: building 260,000 objects (none of them in a cycle, so
    nothing for it to find) otherwise sets off full collections that walk the whole heap, two thirds
    of the time the objects take."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _objects(kept: dict) -> tuple[Plan, PlanReference]:
    """The plan and reference `_columns` describes (their fields in the order the classes declare)."""
    number, title, issued_on, sha256, source_path, source_format, page_count, extractor = kept["document"]
    document = PlanDocument(
        number,
        title,
        date.fromisoformat(issued_on),
        sha256,
        source_path,
        source_format,
        page_count,
        extractor,
    )
    declared = tuple(
        DeclaredTotal(year, source, township, measure, Decimal(value), ref)
        for year, source, township, measure, value, ref in kept["declared"]
    )
    areas = [Decimal(area) for area in kept["area_mu"]]
    years, seqs, names, patches = kept["plan_year"], kept["seq"], kept["name"], kept["patches"]
    plan = Plan(
        document, tuple(map(PlanProject, years, seqs, names, patches, areas, kept["source_ref"])), declared
    )
    projects = tuple(
        map(
            ProjectRef,
            kept["project_code"],
            years,
            seqs,
            names,
            kept["normalized_name"],
            kept["township_name"],
            patches,
            areas,
        )
    )
    reference = PlanReference(
        document.issued_on,
        projects,
        tuple(kept["townships"]),
        tuple(map(tuple, kept["township_spellings"])),
        tuple(map(tuple, kept["township_short_names"])),
        tuple(map(tuple, kept["replacements"])),
    )
    return plan, reference


@dataclass
class ParsedNotice:
    """A notice's plan and reference; `keep` writes them for the next run if they were parsed now."""

    plan: Plan
    reference: PlanReference
    cached: bool
    _path: Path
    _key: str | None
    _thread: threading.Thread | None = field(default=None, repr=False)

    def keep(self) -> None:
        """Write the cache file in a thread (once; nothing to do when it was read from it)."""
        if self.cached or self._key is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._write, name="keep-notice", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        partial = self._path.with_name(f"{self._path.name}.{os.getpid()}.part")
        try:
            # The key on a line of its own: a run with another notice reads no further.
            partial.write_text(
                f"{self._key}\n{json.dumps(_columns(self.plan, self.reference), ensure_ascii=False)}",
                encoding="utf-8",
            )
            os.replace(partial, self._path)
        except OSError as exc:  # only a cache: the next run parses again
            logger.warning("the parsed notice was not kept: %s", exc)
            partial.unlink(missing_ok=True)

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()


def parsed_notice(notice: Path, work_dir: Path, seeds_dir: Path = SEEDS_DIR) -> ParsedNotice:
    """`notice` parsed (regreen.plan.parse_notice) with its reference (build_reference), from the copy
    kept in `work_dir` when neither the notice nor the code and seeds changed since it was kept."""
    path = work_dir / CACHE_FILE
    try:
        key = _key(notice, notice.read_bytes(), seeds_dir)
    except OSError:
        key = None  # parse_notice says what is wrong with the notice
    if key is not None:
        try:
            with path.open(encoding="utf-8") as handle:
                if handle.readline().rstrip("\n") == key:
                    with _collector_paused():
                        plan, reference = _objects(json.load(handle))
                    logger.info("notice %s: read as parsed before, from %s", notice, path)
                    return ParsedNotice(plan, reference, True, path, key)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none kept yet, or unreadable: parsed below
    plan = parse_notice(notice)
    reference = build_reference(plan.document.issued_on, plan.projects, seeds_dir)
    return ParsedNotice(plan, reference, False, path, key)
