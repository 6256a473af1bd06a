"""`regreen check` and `regreen template` as a user runs them: real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from regreen.submissions.validate import validate_file

REGREEN = Path(sys.executable).parent / "regreen"


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REGREEN), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def current_month_rows(files) -> list[dict[str, object]]:
    """Rows for this month: `regreen check` validates against the real today."""
    return files.rows_for_month(f"{date.today():%Y-%m}")


def test_check_json_exit_codes_and_no_personal_data(files):
    good = files.write("good.csv", current_month_rows(files))
    rows = current_month_rows(files)
    rows[1]["area_done_mu"] = "约80"
    bad = files.write("bad.xlsx", rows)
    phone = files.row()["phone"]

    result = run("check", good, bad, "--json", "--data-dir", files.folder / "none")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    reports = json.loads(result.stdout)
    assert [(r["file"], r["status"], r["rows"]) for r in reports] == [
        (str(good), "accepted", 2),
        (str(bad), "rejected", 2),
    ]
    assert all(
        set(r) == {"file", "status", "rows", "error_count", "warning_count", "errors", "warnings"}
        for r in reports
    )
    assert reports[1]["errors"] == [
        {
            "row": 3,
            "column": "累计治理面积(亩)",
            "value": "约80",
            "message": "不是数字（只填数字，不加“约”等文字） / not a number (figures only, no words such as 约)",
        }
    ]
    assert phone not in result.stdout + result.stderr

    result = run("check", good, "--data-dir", files.folder / "none")
    # No published warehouse there: one line says so, in Chinese and English.
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"regreen: 没有已发布的仓库 {files.folder / 'none' / 'regreen.duckdb'}，只按文件本身校验（不核对已验收项目、"
        f"上月数字与重报） / no published warehouse at {files.folder / 'none' / 'regreen.duckdb'}: each file is "
        "judged alone (no acceptances, previous months or restatements to check against)"
    ]
    assert "通过 / ACCEPTED" in result.stdout and phone not in result.stdout


def test_check_prints_one_line_per_issue(files):
    rows = current_month_rows(files)
    rows[0]["stage"] = "进行中"
    rows[1]["patches_done"] = "-2"
    result = run("check", files.write("bad.csv", rows), "--data-dir", files.folder)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    issue_lines = [line for line in result.stdout.splitlines() if line.startswith("    - ")]
    assert len(issue_lines) == 2
    assert issue_lines[0].startswith("    - 第 2 行 「项目阶段」 值“进行中”：")
    assert issue_lines[1].startswith("    - 第 3 行 「累计完成图斑(个)」 值“-2”：")


def test_check_of_an_unreadable_file_is_a_report_not_a_traceback(tmp_path):
    broken = tmp_path / "broken.xlsx"
    broken.write_text("not a workbook", encoding="utf-8")
    result = run("check", broken, tmp_path / "missing.csv", "--json", "--data-dir", tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    reports = json.loads(result.stdout)
    assert [(r["status"], len(r["errors"]), r["errors"][0]["row"]) for r in reports] == [
        ("rejected", 1, None),
        ("rejected", 1, None),
    ]


def test_a_reader_that_stops_early_ends_check_quietly(tmp_path):
    # `regreen check … | head -1`: the pipe closes under the report; a reader of one line is not a bug.
    files = [tmp_path / f"{n}.txt" for n in range(2000)]  # more report than a pipe holds
    for each in files:
        each.write_text("x", encoding="utf-8")
    check = subprocess.Popen(
        [str(REGREEN), "check", *map(str, files)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert check.stdout.readline()
    check.stdout.close()  # as head does once it has its line
    stderr = check.stderr.read().decode()
    assert check.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_template_writes_a_workbook_that_passes_once_filled(tmp_path, reference):
    month = f"{date.today():%Y-%m}"
    output = tmp_path / "out" / "zhangban.xlsx"
    result = run(
        "template", "--township", "张坂镇", "--month", month, "--output", output, "--data-dir", tmp_path
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == str(output)
    workbook = openpyxl.load_workbook(output)
    sheet = workbook["月度进展"]
    names = [row[2].value for row in sheet.iter_rows(min_row=3) if row[2].value]
    codes = [p.project_code for p in reference.projects if p.name in names]
    assert codes == ["2023-04", "2023-05", "2024-04", "2024-05", "2024-06", "2025-01", "2025-02"]
    for row in range(3, 3 + len(names)):
        sheet.cell(row, 9, "方案编制")  # 项目阶段: nothing else is due before construction
    workbook.save(output)
    report = validate_file(output, reference, date.today())
    assert (report.status, report.rows_read, report.warnings) == ("accepted", 7, [])


def test_template_default_name(tmp_path):
    result = run("template", "--township", "东园", "--month", "2024-03", "--data-dir", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "东园-2024-03-月度进展.xlsx").is_file()


def test_template_for_an_unknown_township(tmp_path):
    result = run(
        "template",
        "--township",
        "西园镇",
        "--month",
        "2024-03",
        "--output",
        tmp_path / "t.xlsx",
        "--data-dir",
        tmp_path,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "百崎乡、东园镇、洛阳镇、张坂镇" in result.stderr


@pytest.mark.parametrize("command", ["check", "template"])
def test_help_has_an_example(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "example" in result.stdout
