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


# Google Earth Pro's "Save Place As" (.kml), as it writes a folder of polygons imported from a layer: its
# XML namespaces, a shared StyleMap, the layer's columns as a <Schema> whose SimpleData each placemark
# carries, a <name> per placemark and coordinates "lon,lat,alt" with altitude 0. 奥维互动地图 and
# LocaSpace write the same elements; `data` gives the columns as untyped <Data name><value> pairs instead.
_KML_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2" \
xmlns:kml="http://www.opengis.net/kml/2.2" xmlns:atom="http://www.w3.org/2005/Atom">
<Document>
\t<name>{name}</name>
\t<Style id="s_ylw-pushpin"><LineStyle><color>ff0000ff</color><width>2</width></LineStyle>\
<PolyStyle><color>4d0000ff</color></PolyStyle></Style>
\t<StyleMap id="m_ylw-pushpin"><Pair><key>normal</key><styleUrl>#s_ylw-pushpin</styleUrl></Pair>\
<Pair><key>highlight</key><styleUrl>#s_ylw-pushpin</styleUrl></Pair></StyleMap>
"""


def _kml_coordinates(geometry: shapely.Geometry, altitude: float) -> str:
    return " ".join(f"{x:.9f},{y:.9f},{altitude:g}" for x, y in shapely.get_coordinates(geometry))


def _kml_geometry(geometry: shapely.Geometry, altitude: float) -> str:
    if isinstance(geometry, shapely.Point | shapely.LineString):
        tag = "Point" if isinstance(geometry, shapely.Point) else "LineString"  # a ring is a closed path
        return f"<{tag}><coordinates>{_kml_coordinates(geometry, altitude)}</coordinates></{tag}>"
    if isinstance(geometry, shapely.MultiPolygon):
        return (
            "<MultiGeometry>"
            + "".join(_kml_geometry(p, altitude) for p in geometry.geoms)
            + "</MultiGeometry>"
        )
    ring = _kml_coordinates(geometry.exterior, altitude)
    return (
        "<Polygon><tessellate>1</tessellate><outerBoundaryIs><LinearRing><coordinates>\n\t\t\t\t"
        f"{ring} \n\t\t\t</coordinates></LinearRing></outerBoundaryIs></Polygon>"
    )


def write_kml(
    path: Path,
    folders: dict[str, Sequence[Feature]],
    names: tuple[str, str, str] | None = ("图斑编号", "项目名称", "申报面积"),
    data: bool = False,
    altitude: float = 0.0,
) -> Path:
    """`folders` of features (in WGS84) as a .kml in Google Earth's form (above), each feature a placemark
    named by its code; `names` None: no attributes, only the placemark's <name>."""
    out = [_KML_HEAD.format(name=path.name)]
    if names and not data:
        fields = zip(names, ("string", "string", "double"), strict=True)
        out.append('\t<Schema name="图斑" id="S_tuban_SSD">\n')
        out += [f'\t\t<SimpleField type="{kind}" name="{name}"></SimpleField>\n' for name, kind in fields]
        out.append("\t</Schema>\n")
    for folder, features in folders.items():
        out.append(f"\t<Folder>\n\t\t<name>{folder}</name>\n\t\t<open>1</open>\n")
        for f in features:
            out.append(
                f"\t\t<Placemark>\n\t\t\t<name>{f.code}</name>\n\t\t\t<styleUrl>#m_ylw-pushpin</styleUrl>\n"
            )
            values = zip(names or (), (f.code, f.project, f.declared_mu), strict=False)
            if names and data:
                pairs = "".join(f'<Data name="{n}"><value>{v}</value></Data>' for n, v in values)
                out.append(f"\t\t\t<ExtendedData>{pairs}</ExtendedData>\n")
            elif names:
                pairs = "".join(f'<SimpleData name="{n}">{v}</SimpleData>' for n, v in values)
                out.append(
                    f'\t\t\t<ExtendedData><SchemaData schemaUrl="#S_tuban_SSD">{pairs}</SchemaData></ExtendedData>\n'
                )
            out.append(f"\t\t\t{_kml_geometry(f.polygon, altitude)}\n\t\t</Placemark>\n")
        out.append("\t</Folder>\n")
    out.append("</Document>\n</kml>\n")
    path.write_text("".join(out), encoding="utf-8")
    return path
