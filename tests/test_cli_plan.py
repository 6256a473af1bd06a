"""`regreen plan show` as a user runs it: a real process, from any directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from regreen.project import BUNDLED_NOTICE


def _plan_show(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regreen.cli", "plan", "show", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def test_json_lists_the_14_projects(tmp_path: Path) -> None:
    result = _plan_show(str(BUNDLED_NOTICE), "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["document"]["document_number"] == "泉台管办〔2023〕36号"
    assert plan["document"]["issued_on"] == "2023-05-05"
    assert len(plan["projects"]) == 14
    assert sum(p["patches"] for p in plan["projects"]) == 182
    assert sum(p["area_mu"] for p in plan["projects"]) == 3126
    task = [total for total in plan["declared_totals"] if total["source"] == "task"]
    assert [(total["measure"], total["value"], total["plan_year"]) for total in task] == [
        ("task_area_mu", 3000, None)
    ]


def test_table_output_has_chinese_headers_and_the_sums(tmp_path: Path) -> None:
    result = _plan_show(str(BUNDLED_NOTICE), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "项目名称" in result.stdout and "张坂镇塘园村废弃矿山生态治理项目" in result.stdout
    assert "182" in result.stdout and "3126" in result.stdout
    assert result.stderr == ""


def test_a_bad_notice_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    notice = tmp_path / "gbk.txt"
    notice.write_bytes(BUNDLED_NOTICE.read_text(encoding="utf-8").encode("gb18030"))

    result = _plan_show("gbk.txt", "--json", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert "gbk.txt" in result.stderr and "UTF-8" in result.stderr


def test_a_missing_notice_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _plan_show("nowhere.txt", cwd=tmp_path)

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr and "nowhere.txt" in result.stderr


def test_help_shows_an_example(tmp_path: Path) -> None:
    result = _plan_show("--help", cwd=tmp_path)

    assert result.returncode == 0
    assert "example" in result.stdout
