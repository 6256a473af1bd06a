"""`regreen build` end to end: real processes, a real DuckDB file, real dbt and GX runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pdfplumber
import pytest
from notice_pdf import notice_pdf, scanned_pdf

from regreen.project import BUNDLED_NOTICE
from regreen.submissions.reference import load_reference

# A fixed "today" would not reach the CLI; the sample runs up to the real current month, which is fine
# because every assertion below is about the plan or about relations between tables.


def regreen(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regreen.cli", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the sample submissions ingested and the warehouse built from them."""
    data_dir = tmp_path_factory.mktemp("data")
    for step in (["sample", "--seed", "11"], ["ingest"], ["build"]):
        result = regreen(*step, "--data-dir", str(data_dir))
        assert result.returncode == 0, f"{step}: {result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
    return data_dir


def query(data_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir / "regreen.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_build_publishes_the_plan_marts(built: Path) -> None:
    assert query(
        built, "select count(*), sum(patches_planned), sum(area_planned_mu) from marts.dim_project"
    ) == [(14, 182, 3126)]
    by_year = query(
        built,
        "select plan_year, count(*), sum(patches_planned), sum(area_planned_mu) "
        "from marts.fct_plan group by plan_year order by plan_year",
    )
    assert by_year == [(2023, 5, 72, 993), (2024, 6, 53, 1728), (2025, 3, 57, 405)]
    assert query(built, "select count(*) from marts.dim_village") == [(21,)]
    assert query(built, "select count(*) from marts.dim_township") == [(4,)]
    assert query(
        built,
        "select project_name, township_name, area_planned_mu from marts.dim_project where project_code = '2024-04'",
    ) == [("张坂镇前见、后见村废弃矿山生态治理项目", "张坂镇", 526)]


def test_build_stores_every_check_and_warns_about_the_2023_sentence(built: Path) -> None:
    statuses = dict(query(built, "select status, count(*) from quality.check_results group by status"))
    assert statuses.get("failed", 0) == 0
    assert statuses["passed"] > 20
    warned = query(
        built,
        "select suite, observed, expected, details from quality.check_results where status = 'warned' "
        "and details like '%张坂镇%'",
    )
    assert any(observed == "2" and expected == "1" for _, observed, expected, _ in warned), warned


def test_schemas_are_named_plainly_and_marts_are_described(built: Path) -> None:
    schemas = {row[0] for row in query(built, "select distinct schema_name from duckdb_schemas()")}
    assert {"raw", "staging", "marts", "quality"} <= schemas
    assert not any(schema.startswith("main_") for schema in schemas)
    undocumented = query(
        built,
        "select table_name, column_name from duckdb_columns() "
        "where schema_name = 'marts' and (comment is null or comment = '')",
    )
    assert undocumented == []


def test_python_and_dbt_normalise_project_names_alike(built: Path) -> None:
    reference = {p.project_code: p.normalized_name for p in load_reference(BUNDLED_NOTICE).projects}
    assert dict(query(built, "select project_code, normalized_name from marts.dim_project")) == reference


def test_personal_data_never_leaves_the_landing_zone(built: Path) -> None:
    with duckdb.connect(str(built / "landing.duckdb"), read_only=True) as con:
        phones = {row[0] for row in con.execute("select distinct phone from raw.submission_rows").fetchall()}
        reporters = {
            row[0] for row in con.execute("select distinct reporter from raw.submission_rows").fetchall()
        }
    personal = {value for value in phones | reporters if value}
    assert personal, "the sample should carry (fake) personal data into the landing zone"
    assert query(
        built, "select count(*) from duckdb_columns() where column_name in ('reporter', 'phone')"
    ) == [(0,)]
    text_columns = query(
        built,
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where data_type = 'VARCHAR' and schema_name not in ('information_schema', 'pg_catalog')",
    )
    for schema, table, column in text_columns:
        found = query(
            built,
            f'select count(*) from "{schema}"."{table}" where "{column}" in (select unnest(?))'.replace(
                "unnest(?)", "unnest([" + ", ".join(f"'{v}'" for v in personal) + "])"
            ),
        )
        assert found == [(0,)], f"personal data in {schema}.{table}.{column}"


def test_progress_reaches_the_marts(built: Path) -> None:
    [(projects, months)] = query(
        built,
        "select count(distinct project_code), count(distinct report_month) from marts.fct_project_month",
    )
    assert projects == 14
    assert months >= 12
    loaded = query(built, "select sum(rows_loaded) from raw.submission_files")[0][0]
    rows = query(built, "select count(*) from raw.submission_rows")[0][0]
    assert loaded == rows


def test_a_notice_that_lost_a_row_builds_nothing(built: Path, tmp_path: Path) -> None:
    before = sha256(built / "regreen.duckdb")
    text = BUNDLED_NOTICE.read_text(encoding="utf-8")
    lost = tmp_path / "lost-row.txt"
    lost.write_text(text.replace("2\t东园镇阳光、琅山村废弃矿山生态治理项目\t12\t80\n", ""), encoding="utf-8")
    result = regreen("build", "--notice", str(lost), "--data-dir", str(built))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "2023" in result.stderr and "72" in result.stderr and "60" in result.stderr
    assert sha256(built / "regreen.duckdb") == before


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.txt", None), ("empty.txt", ""), ("binary.txt", b"\xff\xfe\x00\x81garbage")],
)
def test_unusable_notices_give_one_line_and_exit_2(
    tmp_path: Path, name: str, content: str | bytes | None
) -> None:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = regreen("build", "--notice", str(path), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "regreen.duckdb").exists()


def test_a_failed_error_level_check_publishes_nothing(built: Path, tmp_path: Path) -> None:
    before = sha256(built / "regreen.duckdb")
    text = BUNDLED_NOTICE.read_text(encoding="utf-8")
    # Table and 合计 agree with each other (the parser accepts it) but not with the plan's 993 mu.
    changed = text.replace(
        "莲埭村废弃矿山生态治理项目\t13\t139", "莲埭村废弃矿山生态治理项目\t13\t140"
    ).replace("合计\t\t72\t993", "合计\t\t72\t994")
    assert changed != text
    notice = tmp_path / "changed.txt"
    notice.write_text(changed, encoding="utf-8")
    result = regreen("build", "--notice", str(notice), "--data-dir", str(built))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "2023" in result.stdout and "994" in result.stdout and "993" in result.stdout
    assert sha256(built / "regreen.duckdb") == before
    assert any(p.name.startswith("failed-") for p in (built / "work").iterdir())


def test_a_notice_without_a_figure_contract_builds_nothing(built: Path, tmp_path: Path) -> None:
    # Another document number: the bundled contract is not its, and the data directory holds none.
    text = BUNDLED_NOTICE.read_text(encoding="utf-8").replace("泉台管办〔2023〕36号", "泉台管办〔2024〕7号")
    notice = tmp_path / "other.txt"
    notice.write_text(text, encoding="utf-8")
    before = sha256(built / "regreen.duckdb")
    result = regreen("build", "--notice", str(notice), "--data-dir", str(built))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "泉台管办〔2024〕7号" in result.stderr and "contracts" in result.stderr
    assert sha256(built / "regreen.duckdb") == before


def test_the_notice_as_a_pdf_publishes_the_same_marts(built: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(built, data_dir)
    pdf = notice_pdf(BUNDLED_NOTICE.read_text(encoding="utf-8"), tmp_path / "notice.pdf")

    result = regreen("build", "--notice", str(pdf), "--data-dir", str(data_dir))

    assert result.returncode == 0, result.stdout + result.stderr
    # Only where the notice's figures were found differs: 'page 2, table 1, row 2' instead of 'line 40'.
    where = ("source_ref", "document_sha256")
    assert marts(data_dir, leave_out=where) == marts(built, leave_out=where)
    assert query(data_dir, "select source_ref from marts.dim_project where project_code = '2024-05'") == [
        ("page 3, table 1, row 2",)
    ]
    assert query(data_dir, "select source_format, page_count, extractor from raw.plan_documents") == [
        ("pdf", 4, f"pdfplumber {pdfplumber.__version__}")
    ]


@pytest.mark.parametrize("case", ["scanned", "header-words-in-a-name"])
def test_an_unreadable_pdf_notice_publishes_nothing(case: str, built: Path, tmp_path: Path) -> None:
    before = sha256(built / "regreen.duckdb")
    if case == "scanned":
        pdf = scanned_pdf(tmp_path / "notice.pdf")
    else:
        text = BUNDLED_NOTICE.read_text(encoding="utf-8").replace("张坂镇苏坑村", "(亩)张坂镇苏坑村")
        pdf = notice_pdf(text, tmp_path / "notice.pdf")

    result = regreen("build", "--notice", str(pdf), "--data-dir", str(built))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert ("OCR is not supported" if case == "scanned" else "page 2, table 1, row 6") in result.stderr
    assert sha256(built / "regreen.duckdb") == before


def test_build_runs_from_any_working_directory(tmp_path: Path) -> None:
    result = regreen("plan", "show", str(BUNDLED_NOTICE), cwd=tmp_path)
    assert result.returncode == 0
    assert os.listdir(tmp_path) == []


def marts(data_dir: Path, leave_out: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every mart's rows (sorted), without the columns named in `leave_out`."""
    with duckdb.connect(str(data_dir / "regreen.duckdb"), read_only=True) as con:
        columns: dict[str, list[str]] = {}
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'marts' "
            "order by table_name, ordinal_position"
        ).fetchall():
            if column not in leave_out:
                columns.setdefault(table, []).append(f'"{column}"')
        return {
            name: sorted(con.execute(f'select {", ".join(kept)} from marts."{name}"').fetchall(), key=repr)
            for name, kept in columns.items()
        }


def test_a_build_with_nothing_new_rebuilds_nothing_and_full_rebuilds_everything(
    built: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(built, data_dir)
    before = marts(data_dir)
    [(previous,)] = query(data_dir, "select run_id from meta.build")

    again = regreen("build", "--data-dir", str(data_dir))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"incremental build on {previous}: 0 tables and views rebuilt" in again.stdout
    [(run_id, mode, base, rebuilt)] = query(
        data_dir, "select run_id, build_mode, base_run_id, relations_rebuilt from meta.build"
    )
    assert (mode, base, rebuilt) == ("incremental", previous, 0)
    per_run = dict(
        query(
            data_dir,
            f"select run_id, count(*) from quality.check_results where run_id in ('{previous}', '{run_id}') "
            "group by run_id",
        )
    )
    # Every check of the new run is one the previous run ran, carried over: nothing it reads changed.
    assert per_run[run_id] == per_run[previous] > 200
    assert query(
        data_dir,
        f"select count(*) from quality.check_results where run_id = '{run_id}' "
        f"and carried_from_run is distinct from '{previous}'",
    ) == [(0,)]
    assert marts(data_dir) == before

    full = regreen("build", "--full", "--data-dir", str(data_dir))
    assert full.returncode == 0, full.stdout + full.stderr
    assert "full build: 48 tables and views built" in full.stdout
    [(mode, base, rebuilt)] = query(
        data_dir, "select build_mode, base_run_id, relations_rebuilt from meta.build"
    )
    assert (mode, base, rebuilt) == ("full", None, 48)
    assert query(
        data_dir,
        "select count(*) from quality.check_results where carried_from_run is not null and run_id = "
        "(select run_id from meta.build)",
    ) == [(0,)]
    assert marts(data_dir) == before
