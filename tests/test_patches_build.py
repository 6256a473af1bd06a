"""The patch register through real builds: the marts and suites on the sample, each check failing on a
layer the test alters (naming the patch), the refusal of a register without CRS, and the GIS exports read
back by GDAL."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
import shapely
import shapely.affinity
from conftest import SubmissionFiles
from patch_layers import SEED, sample_features, write_features
from pyogrio.raw import read as read_raw
from pyproj import CRS
from report_warehouse import sample_data_dir

from regreen.patches.export import GEOPACKAGE, GEOPARQUET, GIS_FOLDER
from regreen.project import PROJECT_ROOT
from regreen.submissions.reference import PlanReference

REGREEN = Path(sys.executable).parent / "regreen"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REGREEN), *map(str, args)], capture_output=True, text=True, timeout=900, check=False
    )


def rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


def patch_checks(database: Path) -> dict[str, tuple[str, str | None, str | None, str | None]]:
    """check name → (status, observed, expected, details) of the patch suites."""
    found = rows(
        database,
        "select check_name, status, observed, expected, details from quality.check_results "
        "where suite like 'patch%'",
    )
    return {name: tuple(rest) for name, *rest in found}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_data_dir(tmp_path_factory.getbasetemp())


# --- the sample -----------------------------------------------------------------------------------


def test_the_sample_warehouse_holds_the_182_patches_and_the_suites_pass(sample: Path) -> None:
    warehouse = sample / "regreen.duckdb"
    assert rows(
        warehouse, "select count(*), count(distinct patch_code), bool_and(is_sample) from marts.dim_patch"
    ) == [(182, 182, True)]
    assert rows(
        warehouse,
        "select plan_year, patches_planned, patches_mapped from marts.plan_vs_patches_plan_year order by 1",
    ) == [(2023, 72, 72), (2024, 53, 53), (2025, 57, 57)]
    (township_rows,) = rows(
        warehouse, "select count(*), sum(patches_mapped) from marts.plan_vs_patches_township"
    )
    assert township_rows == (4, 182)
    checks = patch_checks(warehouse)
    assert len(checks) == 12
    assert {status for status, *_ in checks.values()} == {"passed"}
    # Geometry areas are within a few percent of the plan's, and the WKB holds what the centroid says.
    (lon, lat, wkb, within) = rows(
        warehouse,
        "select centroid_lon, centroid_lat, geometry_wkb, "
        "(select bool_and(abs(geometry_vs_plan_pct) < 5) from marts.plan_vs_patches_project) "
        "from marts.dim_patch where patch_code = '2024-04-001'",
    )[0]
    assert within
    assert shapely.get_coordinates(shapely.centroid(shapely.from_wkb(wkb)))[0] == pytest.approx((lon, lat))


def test_patches_listed_as_completed_get_their_month(sample: Path) -> None:
    """张坂镇's sample clerk lists the completed patches (已完成图斑编号) from 2025-07 on."""
    warehouse = sample / "regreen.duckdb"
    listed = rows(
        warehouse,
        "select patch_code, min(report_month), bool_and(is_patch_of_project) from marts.fct_patch_month "
        "where project_code = '2025-01' group by patch_code order by patch_code",
    )
    assert [code for code, *_ in listed] == [f"2025-01-{n:03d}" for n in range(1, 29)]
    assert all(ok for *_, ok in listed)
    completed = dict(rows(warehouse, "select patch_code, completed_month from marts.dim_patch"))
    assert all(completed[code] == month for code, month, _ in listed)
    assert completed["2023-01-001"] is None  # 百崎乡 does not fill the column


def test_the_exports_open_in_gdal_with_182_patches_in_epsg_4490(sample: Path) -> None:
    gis = sample / "export" / GIS_FOLDER
    meta, _, geometries, fields = read_raw(gis / GEOPACKAGE)
    assert meta["crs"] == "EPSG:4490" and len(geometries) == 182
    # GeoPackage 1.2 (application_id GPKG, user_version 10200), which GIS software of every age reads
    # without a warning: GDAL before 3.7 (QGIS 3.28 LTR) warns about the 1.4 that GDAL 3.12 writes.
    with sqlite3.connect(gis / GEOPACKAGE) as gpkg:
        assert gpkg.execute("pragma application_id").fetchone() == (0x47504B47,)
        assert gpkg.execute("pragma user_version").fetchone() == (10200,)
    names = list(meta["fields"])
    assert {"patch_code", "project_code", "stage", "latest_report_month", "geometry_area_mu"} <= set(names)
    by_code = dict(zip(fields[names.index("patch_code")], geometries, strict=True))
    stages = set(fields[names.index("stage")])
    assert (
        stages <= {"方案编制", "方案评审", "已下达", "施工中", "已完工", "已验收", "未填报"}
        and len(stages) > 1
    )

    # GeoParquet: pyogrio's GDAL has no Parquet driver, so the file is checked against the GeoParquet 1.0
    # metadata it must carry, and its geometries against the GeoPackage's.
    parquet = str(gis / GEOPARQUET)
    with duckdb.connect() as con:
        (geo,) = con.execute(
            "select decode(value) from parquet_kv_metadata(?) where decode(key) = 'geo'", [parquet]
        ).fetchone()
        read_back = con.execute(
            "select patch_code, geometry::blob from read_parquet(?) order by patch_code", [parquet]
        ).fetchall()
    metadata = json.loads(geo)
    column = metadata["columns"][metadata["primary_column"]]
    assert metadata["version"] == "1.0.0" and column["encoding"] == "WKB"
    assert CRS.from_json_dict(column["crs"]).to_epsg() == 4490
    assert len(read_back) == 182
    for code, wkb in read_back:
        assert shapely.equals_exact(
            shapely.get_geometry(shapely.from_wkb(by_code[code]), 0), shapely.from_wkb(wkb), tolerance=1e-12
        ), code


# --- each check failing on an altered layer ------------------------------------------------------------


@pytest.fixture(scope="module")
def altered(tmp_path_factory: pytest.TempPathFactory, reference: PlanReference) -> dict[str, object]:
    """The sample layer with one patch removed, one moved onto its neighbour, one made a bow tie, a code
    repeated, a declared area raised by half and a project's only patch enlarged; loaded and built."""
    folder = tmp_path_factory.mktemp("altered")
    features = {f.code: f for f in sample_features(reference, SEED)}
    del features["2023-02-005"]
    moved = shapely.affinity.translate(features["2024-01-001"].polygon, 30, 0)
    features["2024-01-002"] = replace(features["2024-01-002"], polygon=moved)
    x0, y0, x1, y1 = shapely.bounds(features["2025-01-003"].polygon)
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    features["2025-01-003"] = replace(features["2025-01-003"], polygon=bowtie)
    features["2025-02-004"] = replace(features["2025-02-004"], code="2025-02-003")
    features["2023-04-002"] = replace(
        features["2023-04-002"], declared_mu=features["2023-04-002"].declared_mu * 1.5
    )
    enlarged = shapely.affinity.scale(features["2024-04-001"].polygon, 1.12, 1.12, origin="centroid")
    features["2024-04-001"] = replace(features["2024-04-001"], polygon=enlarged)
    layer = write_features(folder / "altered.gpkg", list(features.values()), "EPSG:4528")
    data_dir = folder / "data"
    assert run("patches", "load", layer, "--data-dir", data_dir).returncode == 0
    # 百崎乡's 2023 project lists one of its own patches and one of 2024-01's as completed.
    submission = SubmissionFiles(data_dir / "inbox")
    listing = submission.rows_for_month("2024-03")
    listing[0]["patches_completed"] = "2023-01-001、2024-01-003"
    received = submission.write("百崎乡-2024-03.csv", listing)
    os.utime(received, (received.stat().st_mtime - 3600,) * 2)  # settled: the inbox takes it now
    ingested = run("ingest", "--data-dir", data_dir)
    assert ingested.returncode == 0 and "1 accepted" in ingested.stdout, ingested.stdout + ingested.stderr
    built = run("build", "--data-dir", data_dir)
    assert built.returncode == 1, built.stderr
    (failed,) = (data_dir / "work").glob("failed-*.duckdb")
    overlap = shapely.area(shapely.intersection(features["2024-01-001"].polygon, moved))
    return {"checks": patch_checks(failed), "overlap_m2": overlap, "data_dir": data_dir}


def check(altered: dict[str, object], name_part: str) -> tuple[str, str | None, str | None, str | None]:
    (found,) = [result for name, result in altered["checks"].items() if name_part in name]
    return found


def test_a_removed_patch_fails_the_counts_of_its_project_year_and_total(altered) -> None:
    assert check(altered, "each project's patches")[:3] == ("failed", "11", "12")
    assert (
        "scope_key=2023-02: patches_mapped=11, patches_planned=12"
        in check(altered, "each project's patches")[3]
    )
    assert check(altered, "each plan year's patches")[:3] == ("failed", "71", "72")
    assert check(altered, "182 patches")[:3] == ("failed", "181", "182")


def test_an_overlap_fails_naming_both_patches_and_the_area(altered) -> None:
    status, observed, _, details = check(altered, "overlap by more than")
    assert status == "failed"
    assert "patch_code_a=2024-01-001 patch_code_b=2024-01-002" in details
    # Measured equal-area; the test's own figure is Gauss-Krüger planar, 0.04 % larger here.
    assert float(observed) == pytest.approx(altered["overlap_m2"], rel=0.001)


def test_an_invalid_polygon_and_a_repeated_code_fail_naming_the_patches(altered) -> None:
    status, observed, _, details = check(altered, "every geometry is valid")
    assert status == "failed" and observed.startswith("Self-intersection")
    assert "patch_code=2025-01-003" in details
    status, _, _, details = check(altered, "patch codes are unique")
    assert status == "failed"
    assert details.count("patch_code=2025-02-003") == 2


def test_a_listed_patch_of_another_project_fails_naming_it(altered) -> None:
    status, observed, expected, details = check(altered, "every patch a report lists as completed")
    assert (status, observed, expected) == ("failed", "2024-01", "2023-01")
    assert (
        "patch_code=2024-01-003 report_month=2024-03-01 project_code=2023-01 file_name=百崎乡-2024-03.csv"
        in details
    )


def test_changed_areas_warn_with_both_figures(altered) -> None:
    status, _, _, details = check(altered, "each patch's geometry area")
    assert status == "warned"
    assert "scope_key=2023-04-002 figures=图形 / geometry 33.85 亩 mu, 申报 / declared 51.22 亩 mu" in details
    status, observed, _, details = check(altered, "each project's geometry area")
    assert status == "warned" and float(observed) > 10
    assert "scope_key=2024-04" in details and "计划 / planned 526.00 亩 mu" in details
    # The warnings alone would not stop a publish; the errors above did.
    assert not (altered["data_dir"] / "regreen.duckdb").exists()


def test_a_register_that_lost_its_crs_stops_the_build_with_one_line(tmp_path: Path, reference) -> None:
    data_dir = tmp_path / "data"
    register = data_dir / "patches"
    register.mkdir(parents=True)
    shp = write_features(
        register / "tuban.shp",
        sample_features(reference, SEED),
        "EPSG:4528",
        ("patch_code", "project", "area_mu"),
    )
    shp.with_suffix(".prj").unlink()
    result = run("build", "--data-dir", data_dir)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(shp) in result.stderr and "has no coordinate reference system" in result.stderr


def test_the_readme_query_on_dim_patch_runs(sample: Path) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    (sql,) = [
        block for block in re.findall(r"```sql\n(.*?)```", readme, flags=re.S) if "marts.dim_patch" in block
    ]
    found = rows(sample / "regreen.duckdb", sql)
    assert len(found) == 5
    deviations = [abs(row[5]) for row in found]
    assert deviations == sorted(deviations, reverse=True) and 0 < deviations[0] < 3
    assert all(118.6 < row[6] < 118.95 and 24.9 < row[7] < 25.15 for row in found)
