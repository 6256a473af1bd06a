"""Writing patch layers for the tests: the sample layer's patches, altered, in any format and CRS GDAL writes."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write as write_layer
from pyproj import Transformer

from regreen.patches.sample import SAMPLE_EPSG, sample_patches
from regreen.submissions.reference import PlanReference

SEED = 11  # the seed the shared sample warehouse is built with (report_warehouse.sample_data_dir)


@dataclass(frozen=True)
class Feature:
    code: str
    project: str
    declared_mu: float
    polygon: shapely.Geometry | None  # in the CRS the layer is written in


def sample_features(reference: PlanReference, seed: int = SEED) -> list[Feature]:
    """The sample layer's patches, in EPSG:4528, each project given by its code."""
    return [
        Feature(p.code, p.project.project_code, float(p.declared_area_mu), p.polygon)
        for p in sample_patches(reference, seed)
    ]


def reprojected(features: Sequence[Feature], to_epsg: int, from_epsg: int = SAMPLE_EPSG) -> list[Feature]:
    transformer = Transformer.from_crs(from_epsg, to_epsg, always_xy=True)

    def apply(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return [replace(f, polygon=shapely.transform(f.polygon, apply)) for f in features]


def write_features(
    path: Path,
    features: Sequence[Feature],
    crs: str | None,
    names: tuple[str, str, str] = ("图斑编号", "项目名称", "申报面积"),
    encoding: str = "UTF-8",
) -> Path:
    """Write `features` with the driver `path`'s suffix calls for (.gpkg, .shp, .geojson, .gdb: an ArcGIS
    file geodatabase, a folder); a Shapefile's .dbf in `encoding`, which its .cpg names."""
    driver = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".gdb": "OpenFileGDB"}[
        path.suffix
    ]
    write_layer(
        path,
        np.array([None if f.polygon is None else shapely.to_wkb(f.polygon) for f in features], dtype=object),
        [
            np.array([f.code for f in features], dtype=object),
            np.array([f.project for f in features], dtype=object),
            np.array([f.declared_mu for f in features]),
        ],
        list(names),
        driver=driver,
        geometry_type="Polygon",
        crs=crs,
        encoding=encoding if driver == "ESRI Shapefile" else None,
    )
    return path


def zip_shapefile(shp: Path) -> Path:
    archive = shp.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as out:
        for part in sorted(shp.parent.glob(shp.stem + ".*")):
            if part != archive:
                out.write(part, part.name)
    return archive


class _CodePageName(zipfile.ZipInfo):
    """A member whose name is stored in GBK without the zip's UTF-8 flag, as Windows' "send to compressed
    folder" on a Chinese system stores it (zipfile itself always marks non-ASCII names UTF-8)."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # noqa: N802 (zipfile's name)
        return self.filename.encode("gbk"), self.flag_bits


def zip_folder_as_windows(folder: Path, archive: Path) -> Path:
    """`folder` zipped whole into `archive`, its entry and its files' names under it in GBK."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr(_CodePageName(f"{folder.name}/"), b"")
        for part in sorted(folder.iterdir()):
            out.writestr(_CodePageName(f"{folder.name}/{part.name}"), part.read_bytes())
    return archive
