"""The patch register: the layer in `<data-dir>/patches/` that every full build loads.

`regreen patches load FILE` reads and checks FILE (regreen.patches.layer) and only then puts it in place
of the folder's content, in one rename, so that a build reads the whole old register or the whole new
one. A GIS office that keeps its patches in several layers (one per plan year, say) may also place them
in the folder by hand: every layer there is read, and the checks (codes unique, no overlaps) hold across
all of them.

A build loads the register into three raw tables: `raw.patch_layers` (one row per layer file),
`raw.patches` (one row per feature: the attributes as written, the resolved project, the geometry in
EPSG:4490 as WKB and what regreen measured of it) and `raw.patch_overlaps` (every pair of patches whose
areas intersect). DuckDB's spatial extension cannot be installed offline here, so the measuring is done
at load time with shapely and pyproj rather than in dbt.
"""

from __future__ import annotations

import secrets
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

from regreen.log import logger
from regreen.patches.layer import (
    GEODATABASE_SUFFIX,
    LAYER_SUFFIXES,
    Overlap,
    PatchLayer,
    find_overlaps,
    layer_files,
    read_layer,
)
from regreen.project import DataDir
from regreen.publish import swap_exports
from regreen.submissions.reference import PlanReference

PATCH_DDL = """
create schema if not exists raw;
create or replace table raw.patch_layers (
    layer_file varchar primary key,
    layer_sha256 varchar not null,
    layer_name varchar not null,
    source_crs varchar not null,
    features integer not null
);
create or replace table raw.patches (
    layer_file varchar not null,
    fid integer not null,
    patch_code varchar not null,
    project_as_written varchar not null,
    project_code varchar not null,
    township_as_written varchar,
    village varchar,
    land_type varchar,
    declared_area_mu decimal(12, 2),
    notes varchar,
    geometry_wkb blob,
    geometry_type varchar,
    is_empty boolean not null,
    is_valid boolean not null,
    invalid_reason varchar,
    area_m2 double,
    centroid_lon double,
    centroid_lat double,
    primary key (layer_file, fid)
);
create or replace table raw.patch_overlaps (
    patch_code_a varchar not null,
    fid_a integer not null,
    patch_code_b varchar not null,
    fid_b integer not null,
    overlap_m2 double not null
);
"""


def patches_dir(data_dir: DataDir) -> Path:
    """The patch register's folder."""
    return data_dir.root / "patches"


def register_files(folder: Path) -> list[Path]:
    """The layer files in the register (a Shapefile counts once, by its .shp), by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in LAYER_SUFFIXES)


def register_inputs(folder: Path) -> list[Path]:
    """Every file a build's patches depend on: the layers and a Shapefile's sidecars."""
    return [part for layer in register_files(folder) for part in layer_files(layer)]


def read_register(folder: Path, reference: PlanReference) -> list[PatchLayer]:
    return [read_layer(path, reference) for path in register_files(folder)]


def load_patches(con: duckdb.DuckDBPyConnection, layers: Sequence[PatchLayer]) -> int:
    """Replace the raw patch tables with `layers`; returns the number of patches loaded."""
    con.execute(PATCH_DDL)
    for layer in layers:
        con.execute(
            "insert into raw.patch_layers values (?, ?, ?, ?, ?)",
            [layer.path.name, layer.sha256, layer.layer_name, layer.crs_name, len(layer.patches)],
        )
        con.executemany(
            f"insert into raw.patches values ({', '.join('?' * 18)})",
            [
                [
                    layer.path.name,
                    p.fid,
                    p.patch_code,
                    p.project_as_written,
                    p.project_code,
                    p.township_as_written,
                    p.village,
                    p.land_type,
                    p.declared_area_mu,
                    p.notes,
                    p.geometry_wkb,
                    p.geometry_type,
                    p.is_empty,
                    p.is_valid,
                    p.invalid_reason,
                    p.area_m2,
                    p.centroid_lon,
                    p.centroid_lat,
                ]
                for p in layer.patches
            ],
        )
    overlaps: list[Overlap] = find_overlaps([p for layer in layers for p in layer.patches])
    if overlaps:  # executemany refuses an empty list
        con.executemany(
            "insert into raw.patch_overlaps values (?, ?, ?, ?, ?)",
            [[o.patch_code_a, o.fid_a, o.patch_code_b, o.fid_b, o.overlap_m2] for o in overlaps],
        )
    return sum(len(layer.patches) for layer in layers)


def install_layer(path: Path, data_dir: DataDir, reference: PlanReference) -> PatchLayer:
    """Check the layer at `path` and make it the register, replacing what the folder held.

    Nothing is changed when the layer is refused. The files are copied into a new folder beside
    `patches/`, which is then exchanged with it in one step (regreen.publish.swap_exports). A file
    geodatabase (a folder) is kept as a .zip of it, which GDAL reads as it is: the register holds files."""
    layer = read_layer(path, reference)
    folder = patches_dir(data_dir)
    staging = folder.with_name(f"patches.tmp-{secrets.token_hex(3)}")
    staging.mkdir(parents=True)
    try:
        if path.suffix.lower() == GEODATABASE_SUFFIX:
            with zipfile.ZipFile(staging / f"{path.name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
                for part in layer_files(path):
                    archive.write(part, f"{path.name}/{part.name}")
        else:
            for part in layer_files(path):
                shutil.copy2(part, staging / part.name)
        swap_exports(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("patch register: %s (%d patches)", path.name, len(layer.patches))
    return layer
