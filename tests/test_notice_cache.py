"""The parsed notice kept between nightly runs (regreen.notice_cache): what a run reads back equals what
parsing gives, and a changed notice, changed seeds or a damaged file are parsed again. Real notices
(the bundled one, a generated province-sized plan) and real files."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from regreen.errors import NoticeNotFoundError
from regreen.notice_cache import CACHE_FILE, ParsedNotice, parsed_notice
from regreen.plan import parse_notice
from regreen.project import BUNDLED_NOTICE, PROJECT_ROOT, SEEDS_DIR
from regreen.submissions.reference import build_reference

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import bench_nightly  # noqa: E402  (the bench's generator of province-sized plans)


def kept(notice: Path, work: Path, seeds: Path = SEEDS_DIR) -> ParsedNotice:
    parsed = parsed_notice(notice, work, seeds)
    parsed.keep()
    parsed.join()
    return parsed


def assert_as_parsed(parsed: ParsedNotice, notice: Path, seeds: Path = SEEDS_DIR) -> None:
    plan = parse_notice(notice)
    assert parsed.plan == plan
    assert parsed.reference == build_reference(plan.document.issued_on, plan.projects, seeds)


@pytest.mark.parametrize("size", [None, 300])
def test_a_kept_notice_reads_back_as_parsed(tmp_path: Path, size: int | None) -> None:
    notice = (
        BUNDLED_NOTICE if size is None else bench_nightly.synthetic_notice(tmp_path / "n.txt", size, seed=3)
    )
    first = kept(notice, tmp_path)
    assert not first.cached and (tmp_path / CACHE_FILE).is_file()
    again = parsed_notice(notice, tmp_path)
    assert again.cached
    assert_as_parsed(again, notice)
    assert again.plan.projects[-1].area_mu == first.plan.projects[-1].area_mu  # Decimal, as parsed
    # Resolving a name works on what was read back, as on what was parsed.
    project = again.reference.projects[0]
    assert again.reference.resolve_project(project.township_name, project.name).project == project


def test_a_changed_notice_or_seed_is_parsed_again(tmp_path: Path) -> None:
    notice = bench_nightly.synthetic_notice(tmp_path / "n.txt", 60, seed=4)
    kept(notice, tmp_path)
    other = bench_nightly.synthetic_notice(tmp_path / "n.txt", 90, seed=5)  # same path, other bytes
    parsed = parsed_notice(other, tmp_path)
    assert not parsed.cached and len(parsed.plan.projects) == 90
    assert_as_parsed(parsed, other)

    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds)
    kept(other, tmp_path, seeds)
    assert parsed_notice(other, tmp_path, seeds).cached
    with (seeds / "name_aliases.csv").open("a", encoding="utf-8") as handle:
        handle.write("village,东园村,东园新村,\n")
    parsed = parsed_notice(other, tmp_path, seeds)
    assert not parsed.cached
    assert_as_parsed(parsed, other, seeds)


def test_a_damaged_file_is_parsed_again_and_a_missing_notice_says_so(tmp_path: Path) -> None:
    kept(BUNDLED_NOTICE, tmp_path)
    cache = tmp_path / CACHE_FILE
    key = cache.read_text(encoding="utf-8").splitlines()[0]
    cache.write_text(f'{key}\n{{"document": [', encoding="utf-8")  # cut short
    parsed = parsed_notice(BUNDLED_NOTICE, tmp_path)
    assert not parsed.cached
    assert_as_parsed(parsed, BUNDLED_NOTICE)
    with pytest.raises(NoticeNotFoundError):
        parsed_notice(tmp_path / "no-such-notice.txt", tmp_path)
