"""The patches for GIS users: a GeoPackage and a GeoParquet file in EPSG:4490, beside the mart exports.

Each patch carries its project, the project's stage and latest progress, and the month its project
first reported it completed, so that QGIS can colour the map by stage without a join. The GeoPackage (QGIS's native format) is written by GDAL through pyogrio.
The GeoParquet file is written by DuckDB, whose GEOMETRY type writes the GeoParquet 1.0 `geo` metadata
(WKB encoding, geometry types, bounding box and the CRS as PROJJSON). Both are written into the export
folder being prepared, so they are published with the other exports in the same swap (regreen.publish).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
from pyogrio.raw import write as write_layer
from pyproj import CRS

from regreen.patches.layer import STORAGE_EPSG

GIS_FOLDER = "gis"
GEOPACKAGE = "patches.gpkg"
GEOPARQUET = "patches.parquet"
LAYER_NAME = "patches"
# GeoPackage 1.2, not the 1.4 that the GDAL bundled with pyogrio writes by default: GDAL before 3.7 (QGIS
# 3.22 and 3.28 LTR, Debian 12) warns that a 1.4 file "may only be partially supported".
GEOPACKAGE_OPTIONS = {"VERSION": "1.2"}
STAGE_UNKNOWN = "未填报"  # a project no township has reported on yet

EXPORT_SQL = f"""
select
    d.patch_code,
    d.project_code,
    d.project_name,
    d.township_name,
    d.village_name,
    d.plan_year,
    d.land_type_before,
    d.declared_area_mu,
    d.geometry_area_mu,
    coalesce(p.stage, '{STAGE_UNKNOWN}') as stage,
    strftime(p.latest_report_month, '%Y-%m') as latest_report_month,
    p.area_done_mu as project_area_done_mu,
    p.pct_area_planned as project_pct_area_planned,
    strftime(d.completed_month, '%Y-%m') as completed_month,
    d.is_sample,
    d.geometry_wkb
from marts.dim_patch as d
left join marts.plan_vs_actual_project as p on d.project_code = p.project_code
where d.geometry_wkb is not null and not d.is_empty
order by d.patch_code, d.layer_file, d.fid
"""


def has_patches(con: duckdb.DuckDBPyConnection) -> bool:
    database = con.execute("select current_database()").fetchone()[0]
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_catalog = ? "
            "and table_schema = 'marts' and table_name in ('dim_patch', 'plan_vs_actual_project')",
            [database],
        ).fetchone()[0]
        == 2
    )


def export_patches(con: duckdb.DuckDBPyConnection, target: Path) -> int | None:
    """Write `target/gis/patches.gpkg` and `target/gis/patches.parquet`; the number of patches written,
    or None when the warehouse has no patch marts."""
    if not has_patches(con):
        return None
    folder = target / GIS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    cursor = con.execute(EXPORT_SQL)
    names = [column[0] for column in cursor.description]
    rows = cursor.fetchall()
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    fields = [name for name in names if name != "geometry_wkb"]
    write_layer(
        folder / GEOPACKAGE,
        np.array(columns["geometry_wkb"], dtype=object),
        [_array(columns[name]) for name in fields],
        fields,
        layer=LAYER_NAME,
        driver="GPKG",
        geometry_type="MultiPolygon",
        promote_to_multi=True,
        crs=f"EPSG:{STORAGE_EPSG}",
        dataset_options=GEOPACKAGE_OPTIONS,
    )
    projjson = CRS.from_epsg(STORAGE_EPSG).to_json().replace("'", "''")
    parquet = str(folder / GEOPARQUET).replace("'", "''")
    con.execute(
        f"copy (select * exclude (geometry_wkb), geometry_wkb::geometry::geometry('{projjson}') as geometry "
        f"from ({EXPORT_SQL})) to '{parquet}' (format parquet)"
    )
    return len(rows)


def _array(values: list[object]) -> np.ndarray:
    """A field's values as GDAL takes them: whole numbers as int64, other numbers as float64 (None as NaN,
    written as null), booleans as bool, the rest as text objects."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return np.array(values, dtype=bool)
    if len(present) == len(values) and all(isinstance(v, int) for v in values):
        return np.array(values, dtype=np.int64)
    if present and all(isinstance(v, int | float) or hasattr(v, "as_integer_ratio") for v in present):
        return np.array([np.nan if v is None else float(v) for v in values])
    return np.array(values, dtype=object)
