"""Reading one patch layer as the bureau's GIS staff keep it, and measuring its polygons.

A layer is a GeoPackage, a Shapefile (the .shp with its .dbf/.shx/.prj, or a .zip of that set), an ArcGIS
file geodatabase (the .gdb folder, or a .zip of it), a GeoJSON file or a KML/KMZ as Google Earth, 奥维互动地图
and LocaSpace export it (its polygon placemarks in every folder, their attributes from ExtendedData; pins
and paths are left out), read with pyogrio (GDAL/OGR). Its coordinate reference system comes from the file
itself (a KML's is WGS84 by its specification) and must be CGCS2000 geographic (EPSG:4490), a CGCS2000
Gauss-Krüger zone (3- or 6-degree, with or without the zone number in front of the easting, e.g. EPSG:4528
or EPSG:4549) or WGS84. A layer without a CRS, in another one (Xi'an 1980, Beijing 1954, a local grid…), or
with a polygon that cannot lie in the district is refused whole: loading it would put patches in the wrong
place without anyone noticing.

What a layer holds is not judged here beyond that: an invalid or empty geometry, a repeated patch code
and overlapping patches are loaded as they are and reported by the expectation suites, so that the bureau
sees every problem of a layer at once, with its severity.

Geometries are stored in EPSG:4490. Areas and overlaps are measured in a Lambert azimuthal equal-area
projection centred on the district, whose areas are exact; the district's Gauss-Krüger zone (CM 120°E)
would overstate them by about 0.04 % at 118.8°E.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import read as read_raw
from pyproj import CRS, Transformer
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import LambertAzimuthalEqualAreaConversion
from pyproj.exceptions import CRSError

from regreen.errors import RegreenError
from regreen.log import logger
from regreen.submissions.columns import fold
from regreen.submissions.reference import PlanReference

LAYER_SUFFIXES = (".gpkg", ".shp", ".zip", ".geojson", ".json", ".gdb", ".kml", ".kmz")
# Google Earth's format (and 奥维互动地图's, LocaSpace's): WGS84 by its specification, a Folder of placemarks
# read by GDAL as a layer of its own.
KML_SUFFIXES = (".kml", ".kmz")
# CAD drawings: restoration designs are drawn in AutoCAD in zone coordinates the file does not name.
CAD_SUFFIXES = (".dxf", ".dwg")
# ArcGIS's own format, a folder of files: the register keeps it as a .zip of the folder (install_layer).
GEODATABASE_SUFFIX = ".gdb"
STORAGE_EPSG = 4490
SQUARE_METRES_PER_MU = 10000 / 15
# A lon/lat box around 泉州台商投资区 (百崎、东园、洛阳、张坂, about 118.68–118.92°E, 24.92–25.10°N) with a
# margin of some kilometres: a polygon outside it was put there by a wrong CRS or zone, not by a surveyor.
DISTRICT_BOUNDS = (118.55, 24.80, 119.05, 25.25)
DISTRICT_CENTRE = (118.8, 25.0)
AREA_CRS = ProjectedCRS(
    LambertAzimuthalEqualAreaConversion(DISTRICT_CENTRE[1], DISTRICT_CENTRE[0]),
    name="CGCS2000 / Lambert equal-area, 118.8°E 25°N",
    geodetic_crs=CRS.from_epsg(STORAGE_EPSG),
)
# Intersections smaller than this are rounding where two surveyed boundaries meet, not an overlap.
OVERLAP_NOISE_M2 = 0.01

# Attribute columns, by the names GIS layers give them: Chinese, pinyin initials (the land survey's
# TBBH/XMMC/DLMC style) or English; matched after folding (full-width → ASCII, no spaces, lower case).
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "patch_code": ("图斑编号", "图斑号", "图斑代码", "tbbh", "patch_code", "patchcode", "patch_id", "code"),
    "project": (
        "项目名称",
        "项目",
        "所属项目",
        "项目编号",
        "xmmc",
        "xmbh",
        "project",
        "project_name",
        "project_code",
    ),
    "township": ("乡镇", "乡镇名称", "xzmc", "township"),
    "village": ("村", "村名", "所在村", "行政村", "cm", "village"),
    "land_type": ("修复前地类", "原地类", "地类", "地类名称", "dlmc", "land_type", "land_type_before"),
    "declared_area_mu": (
        "申报面积",
        "申报面积(亩)",
        "图斑面积",
        "图斑面积(亩)",
        "面积(亩)",
        "面积",
        "mj",
        "declared_area_mu",
        "declared_mu",
        "area_mu",
        "area",
    ),
    "notes": ("备注", "bz", "notes", "note"),
    # The declared area in square metres, when the column says so (as land-survey layers keep it):
    # converted to mu. A column that does not say its unit is read as mu, and checked (_check_area_unit).
    "declared_area_m2": (
        "申报面积(平方米)",
        "图斑面积(平方米)",
        "面积(平方米)",
        "申报面积(㎡)",
        "图斑面积(㎡)",
        "面积(㎡)",
        "面积(m2)",
        "declared_area_m2",
        "area_m2",
    ),
}
REQUIRED_FIELDS = ("patch_code", "project", "declared_area_mu")
# A required field another column may stand for, in another unit.
_IN_OTHER_UNITS = {"declared_area_mu": "declared_area_m2"}
MU_PER_SQUARE_METRE = Decimal(15) / Decimal(10000)
# How far the declared areas may stand, as a whole, from the polygons' in another unit before the column
# is taken to be in that unit: a layer's declared areas differ from its polygons' by a few per cent.
_UNIT_TOLERANCE = 0.1
FIELD_LABELS = {
    "patch_code": "图斑编号 / patch_code",
    "project": "项目名称 / project",
    "declared_area_mu": "申报面积(亩) / declared_area_mu",
}
_PROJECT_CODE = re.compile(r"^\d{4}-\d{2}$")


# --- errors: each names the file, the feature as GIS shows it (its FID), the column and the value ----


class PatchLayerError(RegreenError):
    """A patch layer that cannot be loaded as it is."""


# What to do about a layer that cannot be read at all: give it in a format GDAL reads here.
GIVE_A_LAYER_FORMAT = (
    "请提供 GeoPackage（.gpkg）、Shapefile（.shp 或其 .zip）、ArcGIS 文件地理数据库（.gdb 文件夹或其 .zip）、"
    "GeoJSON 或 KML/KMZ",
    "give a GeoPackage (.gpkg), a Shapefile (.shp or a .zip of it), an ArcGIS file geodatabase (the .gdb "
    "folder or a .zip of it), a GeoJSON file or a KML/KMZ",
)
# The other refusals: the file is in a format read here, or is not there; another format would not help.
CHECK_THE_PATH = ("请检查路径", "check the path")
ONE_LAYER_ONLY = (
    "请只给图斑这一个面图层（在 QGIS 中右键图层 → 导出 → 要素另存为（Save Features As…），单独存为一个文件）",
    "give the patch layer alone (in QGIS: right-click the layer → Export → Save Features As…, to a file of "
    "its own)",
)
POLYGONS_ONLY = (
    "图斑须为面（多边形）图层；线图层请在 QGIS 中用“线转面”（Lines to Polygons）转为面后再导出",
    "patches must be a polygon layer: turn lines into polygons (in QGIS: Vector → Geometry Tools → Lines to "
    "Polygons) and export that",
)
EXPORT_WITH_FEATURES = (
    "请重新导出图斑图层，勿勾选“仅保存选中的要素”（Save only selected features），并清除图层的筛选条件",
    'export the patch layer again, without "Save only selected features" and with its filter cleared',
)


class PatchLayerUnreadableError(PatchLayerError):
    def __init__(self, path: Path, reason: str, fix: tuple[str, str] = GIVE_A_LAYER_FORMAT) -> None:
        self.path = path
        self.reason = reason
        self.fix = fix
        super().__init__(
            f"无法读取图斑图层 {path}：{reason}；{fix[0]}",
            f"cannot read patch layer {path}: {reason}; {fix[1]}",
        )


class PatchCadDrawingError(PatchLayerError):
    """A CAD drawing: its coordinates carry no CRS, and its patches are lines and text, not polygons with
    a code, a project and an area; guessing the zone would put them in the wrong place unnoticed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"图斑图层 {path} 是 CAD 图纸（{path.suffix}），不含坐标参考系和图斑属性，不能直接载入；请在 CAD"
            "（如 AutoCAD Map 3D）、ArcGIS 或 QGIS 中把图斑导出为 Shapefile 或 GeoPackage 的面图层，设定其 "
            "CGCS2000 投影带（本区为 3 度带第 40 带：EPSG:4528，坐标不带带号则为 EPSG:4549），并填写图斑编号、"
            "项目名称、申报面积",
            f"patch layer {path} is a CAD drawing ({path.suffix}), which holds neither a coordinate reference "
            "system nor the patches' attributes and cannot be loaded as it is; in CAD (AutoCAD Map 3D), ArcGIS "
            "or QGIS export the patches as polygons to a Shapefile or GeoPackage, set its CGCS2000 zone (here "
            "3-degree zone 40: EPSG:4528, or EPSG:4549 for eastings without the zone number) and fill in "
            "图斑编号, 项目名称 and 申报面积",
        )


_ACCEPTED_ZH = "CGCS2000 地理坐标（EPSG:4490）、CGCS2000 高斯-克吕格投影带（如 EPSG:4528）或 WGS84"
_ACCEPTED_EN = "CGCS2000 geographic (EPSG:4490), a CGCS2000 Gauss-Krüger zone (e.g. EPSG:4528) or WGS84"


class PatchCrsMissingError(PatchLayerError):
    def __init__(self, path: Path, prj: str | None = None) -> None:
        """`prj`: the .prj a Shapefile lacks, by name, when that is the cause."""
        self.path = path
        self.prj = prj
        cause_zh = f"缺少 {prj}" if prj else "Shapefile 缺少 .prj？"
        cause_en = f"{prj} is missing beside it" if prj else "a Shapefile without its .prj?"
        super().__init__(
            f"图斑图层 {path} 没有坐标参考系（{cause_zh}）；请在 GIS 中按{_ACCEPTED_ZH}重新导出",
            f"patch layer {path} has no coordinate reference system ({cause_en}); "
            f"export it again from GIS in {_ACCEPTED_EN}",
        )


class PatchDbfMissingError(PatchLayerError):
    """A Shapefile's .shp without its .dbf: GDAL reads its shapes alone, as if it had no columns."""

    def __init__(self, path: Path, dbf: str) -> None:
        self.path = path
        self.dbf = dbf
        super().__init__(
            f"图斑图层 {path} 缺少属性表 {dbf}（图斑编号、项目名称、申报面积都在其中）；请把 .shp 与同名的 "
            ".dbf、.shx、.prj 一起提供，或打包为 .zip",
            f"patch layer {path} lacks {dbf}, the table of its attributes (图斑编号, 项目名称, 申报面积); give "
            "the .shp with the .dbf, .shx and .prj of the same name, or a .zip of them",
        )


class PatchCrsUnknownError(PatchLayerError):
    def __init__(self, path: Path, crs_name: str) -> None:
        self.path = path
        self.crs_name = crs_name
        super().__init__(
            f"图斑图层 {path} 的坐标参考系“{crs_name}”不受支持；请转换为{_ACCEPTED_ZH}后重新导出",
            f"patch layer {path} is in {crs_name!r}, which regreen does not accept; reproject it to "
            f"{_ACCEPTED_EN}",
        )


class PatchOutsideDistrictError(PatchLayerError):
    def __init__(self, path: Path, fid: int, code: str, lon: float, lat: float, crs_name: str) -> None:
        self.path = path
        self.fid = fid
        self.code = code
        self.lon = lon
        self.lat = lat
        west, south, east, north = DISTRICT_BOUNDS
        swapped = south <= lon <= north and west <= lat <= east
        # No longitude or latitude is that large: a zone's eastings and northings in metres, under a CRS
        # that says degrees (a layer whose CRS was set to WGS84 or CGCS2000 geographic by mistake).
        metres = not swapped and (abs(lon) > 180 or abs(lat) > 90)
        if metres:
            where_zh, where_en = f"坐标为 {lon:.0f}, {lat:.0f}", f"has coordinates {lon:.0f}, {lat:.0f}"
            hint_zh = (
                f"这是以米为单位的投影坐标，而图层声明的坐标系（{crs_name}）以度为单位；请把坐标系设为相应的"
                "CGCS2000 高斯-克吕格投影带（东坐标带 40 带号时为 EPSG:4528，不带带号时为 EPSG:4549）"
            )
            hint_en = (
                f"these are metres of a projected CRS, while the layer's CRS ({crs_name}) is in degrees; set it to "
                "the CGCS2000 Gauss-Krüger zone they are in (EPSG:4528 for eastings with the zone number 40 in "
                "front, EPSG:4549 without)"
            )
        else:
            where_zh, where_en = f"位于东经 {lon:.4f}°、北纬 {lat:.4f}°", f"lies at {lon:.4f}°E {lat:.4f}°N"
            hint_zh = "经纬度似乎颠倒" if swapped else f"请核对坐标系（{crs_name}）与投影带是否与数据一致"
            hint_en = (
                "longitude and latitude look swapped"
                if swapped
                else f"check that the CRS ({crs_name}) and its zone match the data"
            )
        super().__init__(
            f"图斑图层 {path} 要素 FID {fid}（图斑编号 {code}）{where_zh}，"
            f"不在台商投资区范围（东经 {west}–{east}°，北纬 {south}–{north}°）内；{hint_zh}",
            f"patch layer {path} feature FID {fid} (patch {code}) {where_en}, outside "
            f"the district ({west}–{east}°E, {south}–{north}°N); {hint_en}",
        )


class PatchFieldMissingError(PatchLayerError):
    def __init__(self, path: Path, field: str, found: list[str]) -> None:
        self.path = path
        self.field = field
        label = FIELD_LABELS[field]
        fix_zh, fix_en = "请按 README 的图斑文件格式补充", "see the patch file format in the README"
        if path.suffix.lower() in KML_SUFFIXES:
            # GDAL gives every placemark the same dozen KML columns (Name, description, altitudeMode…):
            # naming them hides what is missing, the attributes of ExtendedData.
            found = [name for name in found if name not in _KML_COLUMNS]
            fix_zh, fix_en = _kml_fix(found)
        listed = "、".join(found) or "—"
        super().__init__(
            f"图斑图层 {path} 缺少字段“{label.split(' / ')[0]}”（现有字段：{listed}）；{fix_zh}",
            f"patch layer {path} has no {label.split(' / ')[1]} column (its columns: {', '.join(found) or '—'}); "
            f"{fix_en}",
        )


# The columns GDAL (its LIBKML driver) reads from every KML placemark itself, beside ExtendedData's.
_KML_COLUMNS = frozenset(
    ("id", "Name", "description", "timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude")
    + ("visibility", "drawOrder", "icon", "snippet")
)
# GDAL's LIBKML driver turns every byte of a <Data name="…"> that is not an ASCII letter or digit into
# "_" (an XML NCName): 图斑编号 comes back as 12 underscores, one character's three UTF-8 bytes at a time.
_UNREADABLE_KML_NAME = "___"


def _kml_fix(found: list[str]) -> tuple[str, str]:
    """How to give a KML the attributes it lacks: its columns come from ExtendedData only."""
    if any(_UNREADABLE_KML_NAME in name for name in found):
        return (
            "KML 只从 ExtendedData 读取属性，其中以中文命名的 <Data> 属性无法读取（GDAL 读作下划线）；"
            "请把属性名改为 TBBH、XMMC、MJ，或从原软件导出为 Shapefile 或 GeoPackage",
            "a KML's attributes are read from its ExtendedData only, and <Data> attributes with Chinese names "
            "cannot be read (GDAL reads them as underscores); name them TBBH, XMMC, MJ, or export the layer "
            "from its software as a Shapefile or GeoPackage",
        )
    return (
        "KML 只从 ExtendedData 读取属性（地标的名称、描述不作属性）；请在 QGIS 中打开此 KML，"
        "在属性表中添加图斑编号、项目名称、申报面积后另存为 GeoPackage",
        "a KML's attributes are read from its ExtendedData only (a placemark's name and description are "
        "not); open the KML in QGIS, add 图斑编号, 项目名称 and 申报面积 in its attribute table and save it "
        "as a GeoPackage",
    )


class PatchKmlWithoutPolygonsError(PatchLayerError):
    """A KML whose placemarks are pins or paths: a patch is an area, drawn as a polygon."""

    def __init__(self, path: Path, kinds: list[str]) -> None:
        self.path = path
        self.kinds = kinds
        listed = ", ".join(kinds) or "—"
        super().__init__(
            f"图斑图层 {path} 中没有面（多边形）地标，只有：{listed}；图斑须画成多边形（Google Earth 的“添加多边形”、"
            "奥维的“面”），请重新绘制或导出面图层",
            f"patch layer {path} holds no polygon placemark, only: {listed}; a patch is drawn as a polygon "
            "(Google Earth's 'Add Polygon', 奥维's 面): draw or export the patches as polygons",
        )


class PatchValueError(PatchLayerError):
    def __init__(
        self, path: Path, fid: int, column: str, value: object, problem_zh: str, problem_en: str
    ) -> None:
        self.path = path
        self.fid = fid
        self.column = column
        self.value = value
        super().__init__(
            f"图斑图层 {path} 要素 FID {fid} 字段“{column}”的值 {value!r} {problem_zh}",
            f"patch layer {path} feature FID {fid}, column {column!r}, value {value!r}: {problem_en}",
        )


# --- the layer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patch:
    """One feature of a patch layer: its attributes as written, its project resolved, its geometry measured."""

    fid: int  # the feature id GIS shows (QGIS's attribute table)
    patch_code: str
    project_as_written: str
    project_code: str
    township_as_written: str | None
    village: str | None
    land_type: str | None
    declared_area_mu: Decimal | None
    notes: str | None
    geometry_wkb: bytes | None  # EPSG:4490, longitude first
    geometry_type: str | None
    is_empty: bool
    is_valid: bool
    invalid_reason: str | None
    area_m2: float | None
    centroid_lon: float | None
    centroid_lat: float | None


@dataclass(frozen=True)
class Overlap:
    patch_code_a: str
    fid_a: int
    patch_code_b: str
    fid_b: int
    overlap_m2: float


@dataclass(frozen=True)
class PatchLayer:
    path: Path
    sha256: str
    layer_name: str
    crs_name: str  # e.g. "EPSG:4528 CGCS2000 / 3-degree Gauss-Kruger zone 40"
    patches: tuple[Patch, ...]

    @property
    def area_mu(self) -> float:
        return sum(p.area_m2 or 0.0 for p in self.patches) / SQUARE_METRES_PER_MU


def crs_label(crs: CRS) -> str:
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg} {crs.name}"
    if crs.name != _UNNAMED:
        return crs.name
    # A custom CRS (QGIS's USER:100000…) comes without a name: its PROJ string says what it is.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyproj's: a PROJ string says less than a WKT
        return crs.to_proj4()


_UNNAMED = "unknown"
# The datum GDAL gives a CRS defined by a PROJ string on +ellps=GRS80, as a QGIS custom CRS for CGCS2000 is
# (PROJ strings cannot name CGCS2000), possibly with a null shift to WGS84 (+towgs84=0,0,0…).
_GRS80_UNNAMED_DATUM = re.compile(r"^(d )?unknown based on grs ?80 ellipsoid( using towgs84 0( 0)*)?$")


def is_accepted_crs(crs: CRS) -> bool:
    """CGCS2000 (geographic or a Gauss-Krüger zone) or WGS84 geographic. A datum that has no name, on the
    GRS 1980 ellipsoid, is taken for CGCS2000, whose ellipsoid's figures are the same to a tenth of a
    millimetre: a wrong zone or central meridian still puts the patches outside the district."""
    datum = (crs.datum.name if crs.datum else "").replace("_", " ").lower()
    ellipsoid = crs.ellipsoid.name if crs.ellipsoid else ""
    cgcs2000 = (
        ("china" in datum and "2000" in datum)
        or ellipsoid == "CGCS2000"
        or bool(_GRS80_UNNAMED_DATUM.match(datum))
    )
    if crs.is_geographic:
        return cgcs2000 or "world geodetic system 1984" in datum or datum == "wgs 1984"
    method = crs.coordinate_operation.method_name if crs.is_projected and crs.coordinate_operation else ""
    return cgcs2000 and method in ("Transverse Mercator", "Gauss-Kruger")


def file_sha256(path: Path) -> str:
    """sha256 of a layer's bytes; for a .shp, of the whole set beside it (.dbf, .shx, .prj, .cpg); for a
    .gdb, of its files."""
    digest = hashlib.sha256()
    for part in layer_files(path):
        digest.update(part.name.encode() + b"\0" + part.read_bytes())
    return digest.hexdigest()


def layer_files(path: Path) -> list[Path]:
    """The files a layer is made of: a .shp and its sidecars, a .gdb folder's files, or the one file."""
    if path.suffix.lower() == GEODATABASE_SUFFIX:
        return sorted(p for p in path.iterdir() if p.is_file())
    if path.suffix.lower() != ".shp":
        return [path]
    return sorted(p for p in path.parent.glob(path.stem + ".*") if p.is_file())


def _transform(geometries: np.ndarray, transformer: Transformer) -> np.ndarray:
    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometries, apply)


# A .dbf holds a column's name in 10 bytes: GDAL cuts a longer one there, so that a Shapefile QGIS writes
# in UTF-8 names 图斑编号 (12 bytes) 图斑编 and 申报面积(亩) 申报面, one in GBK names it 申报面积(, and
# project_name becomes project_na. A layer converted from such a Shapefile keeps the names so cut.
_DBF_NAME_BYTES = 10


def _as_cut_in_dbf(alias: str) -> list[str]:
    """`alias` as a .dbf in UTF-8 or in GBK keeps it, where it is longer than a .dbf holds."""
    cut = []
    for encoding in ("UTF-8", "GB18030"):
        raw = alias.encode(encoding)
        if len(raw) > _DBF_NAME_BYTES:
            cut.append(codecs.getincrementaldecoder(encoding)().decode(raw[:_DBF_NAME_BYTES], final=False))
    return cut


def _field_index(path: Path, names: list[str]) -> dict[str, int]:
    """Each field's column: by one of its names, else by one cut as a .dbf cuts it."""
    folded = [fold(name).lower() for name in names]
    found: dict[str, int] = {}
    for key, aliases in FIELD_NAMES.items():
        for alias in [*aliases, *(cut for name in aliases for cut in _as_cut_in_dbf(name))]:
            if fold(alias).lower() in folded:
                found[key] = folded.index(fold(alias).lower())
                break
    for key in REQUIRED_FIELDS:
        if key not in found and _IN_OTHER_UNITS.get(key) not in found:
            raise PatchFieldMissingError(path, key, names)
    return found


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _area(path: Path, fid: int, column: str, value: Any, square_metres: bool = False) -> Decimal | None:
    """The declared area in mu, from a column in mu or (`square_metres`) in m²."""
    text = _text(value)
    if text is None:
        return None
    unit_zh, unit_en = ("平方米", "square metres") if square_metres else ("亩", "mu")
    try:
        area = Decimal(fold(text).replace(",", ""))
    except InvalidOperation:
        raise PatchValueError(
            path, fid, column, value, f"不是数字（{unit_zh}）", f"is not a number of {unit_en}"
        ) from None
    if not area.is_finite() or area <= 0:
        raise PatchValueError(
            path, fid, column, value, f"应为正数（{unit_zh}）", f"must be a positive number of {unit_en}"
        )
    return (area * MU_PER_SQUARE_METRE if square_metres else area).quantize(Decimal("0.01"))


class PatchAreaUnitError(PatchLayerError):
    """A declared-area column read as mu whose figures stand, as a whole, in another unit to the polygons'
    areas: square metres (as the land survey's 图斑面积/TBMJ keeps them) or hectares. Loaded as mu, every
    patch would be declared hundreds of times its size, or a fifteenth of it."""

    def __init__(self, path: Path, column: str, unit: str, example: Patch) -> None:
        self.path, self.column, self.unit = path, column, unit
        measured_mu = (example.area_m2 or 0.0) / SQUARE_METRES_PER_MU
        if unit == "m2":
            unit_zh, unit_en = "平方米", "square metres"
            fix_zh = f"请换算为亩（÷ {SQUARE_METRES_PER_MU:.2f}），或把列名改为“面积(平方米)”"
            fix_en = f"convert it to mu (÷ {SQUARE_METRES_PER_MU:.2f}), or name the column 面积(平方米)"
        else:
            unit_zh, unit_en = "公顷", "hectares"
            fix_zh, fix_en = "请换算为亩（× 15）", "convert it to mu (× 15)"
        super().__init__(
            f"图斑图层 {path} 的“{column}”列看来以{unit_zh}为单位，而不是亩：如图斑 {example.patch_code}（FID "
            f"{example.fid}）为 {example.declared_area_mu}，其图形面积为 {example.area_m2:.0f} 平方米，即 "
            f"{measured_mu:.2f} 亩；{fix_zh}",
            f"patch layer {path}: column {column!r} looks to hold {unit_en}, not mu: patch {example.patch_code} "
            f"(FID {example.fid}) has {example.declared_area_mu}, and its polygon measures {example.area_m2:.0f} "
            f"m², {measured_mu:.2f} mu; {fix_en}",
        )


def _check_area_unit(path: Path, column: str, patches: Sequence[Patch]) -> None:
    """Refuse a declared area in mu whose figures match the polygons' in square metres or hectares."""
    both = [p for p in patches if p.declared_area_mu and p.area_m2]
    if not both:
        return
    ratios = sorted(float(p.declared_area_mu) * SQUARE_METRES_PER_MU / p.area_m2 for p in both)  # type: ignore[operator]
    middle = ratios[len(ratios) // 2]
    for unit, factor in (("m2", SQUARE_METRES_PER_MU), ("ha", 1 / 15)):
        if abs(middle / factor - 1) <= _UNIT_TOLERANCE:
            raise PatchAreaUnitError(path, column, unit, both[0])


def _project_code(
    path: Path, fid: int, column: str, value: Any, township: str | None, reference: PlanReference
) -> str:
    text = _text(value)
    if text is None:
        raise PatchValueError(
            path,
            fid,
            column,
            value,
            "为空，应为项目编号或方案中的项目名称",
            "is empty; give the project's code or its name in the notice",
        )
    codes = {p.project_code for p in reference.projects}
    if _PROJECT_CODE.match(fold(text)) and fold(text) in codes:
        return fold(text)
    resolution = reference.resolve_project(township and reference.resolve_township(township), text)
    if resolution.project is not None:
        return resolution.project.project_code
    listed = "、".join(f"{p.project_code} {p.name}" for p in resolution.candidates)
    problem = {"ambiguous": ("可对应多个项目", "matches several projects")}.get(
        resolution.problem or "", ("不是方案中的项目", "is not a project of the plan")
    )
    raise PatchValueError(
        path, fid, column, value, f"{problem[0]}；可能是：{listed}", f"{problem[1]}; did you mean: {listed}"
    )


# What GDAL reads a Shapefile's .dbf as when nothing declares its encoding (no .cpg, no code page in the
# .dbf's header): a byte for a character, so the text's bytes come back whole from what it read.
_UNDECLARED = "ISO-8859-1"


def _undeclared_encoding(meta: dict, field_data: Sequence[np.ndarray]) -> str | None:
    """The encoding a Shapefile's text is in when it does not say (None: it says, or it is all ASCII).

    Chinese GIS software (ArcGIS on a Chinese Windows, older QGIS) writes the .dbf in GBK and often no
    .cpg, or the .cpg is lost on the way (sent as .shp/.dbf/.shx/.prj); QGIS 3.22's "Save vector
    features to file" writes UTF-8 and no .cpg. GDAL then reads it as Latin-1 and every Chinese name as
    mojibake ('°ÙÆéÏç…' for 百崎乡…). The bytes are tried as UTF-8, then as GB18030 (GBK's superset); the
    first that decodes all of them is the one."""
    if meta.get("encoding") != _UNDECLARED:
        return None
    texts = [*meta["fields"], *(v for column in field_data if column.dtype == object for v in column)]
    texts = [v for v in texts if isinstance(v, str)]
    if all(v.isascii() for v in texts):
        return None
    for encoding in ("UTF-8", "GB18030"):
        try:
            for text in texts:
                _decoded(text, encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return None


def _decoded(text: str, encoding: str) -> str:
    """`text`, read as Latin-1 (a byte for a character), decoded in `encoding`. A piece of a character at
    its end is dropped: a .dbf holds a column's name in 10 bytes and its text in the column's width, and
    GDAL cuts what is longer where the bytes end, so that QGIS's Shapefile in UTF-8 keeps 图斑编号 (12
    bytes) as 图斑编 and the first byte of 号."""
    return codecs.getincrementaldecoder(encoding)().decode(text.encode(_UNDECLARED), final=False)


def _read_table(path: Path, source: Path | str, layer: str) -> tuple[dict, np.ndarray, np.ndarray, list]:
    """A layer's meta, FIDs, geometries and columns, a Shapefile's text decoded in the encoding its
    .cpg declares or, undeclared, the one it is in (_undeclared_encoding)."""
    try:
        meta, fids, wkb, field_data = read_raw(source, layer=layer, return_fids=True)
        encoding = _undeclared_encoding(meta, field_data)
    except UnicodeDecodeError:
        # A .dbf in UTF-8, as its .cpg declares, whose column name GDAL cut within a character: pyogrio
        # refuses to decode it. Read as bytes, decoded here with the piece dropped.
        meta, fids, wkb, field_data = read_raw(source, layer=layer, return_fids=True, encoding=_UNDECLARED)
        encoding = "UTF-8"
    else:
        if encoding is None:
            return meta, fids, wkb, field_data
        logger.info("patch layer %s declares no encoding (no .cpg): its text read as %s", path, encoding)
    fields = np.array([_decoded(name, encoding) for name in meta["fields"]], dtype=object)
    columns = [
        np.array([_decoded(v, encoding) if isinstance(v, str) else v for v in column], dtype=object)
        if column.dtype == object
        else column
        for column in field_data
    ]
    return meta | {"fields": fields}, fids, wkb, columns


# Layers inside a .zip. GDAL opens one at the zip's root by itself, but not one in a folder (a folder
# zipped whole, as Windows' "send to compressed folder" does), nor a .gdb zipped without folder entries.
_ZIPPED_FILES = (".shp", ".gpkg", ".geojson")
_ZIPPED_FOLDER = ".gdb/"
_UTF8_NAMES = 0x800  # the zip's flag: this member's name is UTF-8


def _zipped_layers(infos: Sequence[zipfile.ZipInfo]) -> dict[str, str]:
    """The layers among a zip's members, its layer files and its .gdb folders: each by its name as zipfile
    and GDAL decode it, with the name as its maker wrote it. macOS's metadata copies (__MACOSX/, ._name)
    are not layers."""
    found = {}
    for info in infos:
        name = info.filename
        if name.startswith("__MACOSX/") or name.rsplit("/", 1)[-1].startswith("._"):
            continue
        at = name.lower().find(_ZIPPED_FOLDER)
        layer = name[: at + len(_ZIPPED_FOLDER) - 1] if at >= 0 else name
        if at >= 0 or name.lower().endswith(_ZIPPED_FILES):
            found[layer] = _as_written(layer, info)
    return found


def _as_written(name: str, info: zipfile.ZipInfo) -> str:
    """`name` as the zip's maker wrote it: a zip that does not mark its names UTF-8 (Windows' writes GBK)
    is read as CP437 by zipfile and GDAL alike, which turns 图斑 into 'ͼ°ß'."""
    if info.flag_bits & _UTF8_NAMES:
        return name
    raw = name.encode("cp437")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return name


def _may_hold_polygons(kind: object) -> bool:
    """Whether a layer of geometry type `kind` (as pyogrio names it) may hold patches: polygons (surfaces,
    polygons with arcs as ArcGIS draws them, come as polygons, the arcs as fine segments), or a layer that
    declares no type ("Unknown": a GeoPackage's GEOMETRY column, as ogr2ogr and PostGIS exports write it),
    whose geometries the patch_geometry suite checks one by one."""
    return kind is None or "Polygon" in str(kind) or kind == "Unknown"


def _dataset(path: Path) -> Path | str:
    """What GDAL is to open for the layer at `path`: the file itself, for a .zip the one layer inside it,
    by its path in the zip, for a .kmz its one .kml."""
    if path.suffix.lower() == ".kmz":
        return _kmz_document(path)
    if path.suffix.lower() != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as archive:
            layers = _zipped_layers(archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return path  # GDAL says what is wrong with it
    if not layers:
        return path
    if len(layers) > 1:
        listed = ", ".join(layers[name] for name in sorted(layers))
        raise PatchLayerUnreadableError(
            path, f"压缩包中有多个图层 / the zip holds several layers: {listed}", ONE_LAYER_ONLY
        )
    [inside] = layers
    return f"/vsizip/{path}/{inside}"


def _kmz_document(path: Path) -> Path | str:
    """A .kmz as GDAL reads it whole: Google Earth's (one doc.kml, its images) by its .kml, since GDAL
    reading the .kmz itself drops the attributes of a Schema declared in the document; GDAL's own (a
    doc.kml linking to layers/*.kml, as QGIS writes) as the .kmz."""
    try:
        with zipfile.ZipFile(path) as archive:
            documents = [name for name in archive.namelist() if name.lower().endswith(".kml")]
    except (zipfile.BadZipFile, OSError):
        return path  # GDAL says what is wrong with it
    return f"/vsizip/{path}/{documents[0]}" if len(documents) == 1 else path


_POLYGON_TYPES = ("Polygon", "MultiPolygon")


def _read_kml(
    path: Path, source: Path | str, layers: Sequence[str]
) -> tuple[list[str], dict, np.ndarray, np.ndarray, list[np.ndarray]]:
    """The polygon placemarks of a KML's folders as one layer (GDAL reads each folder as a layer and
    declares no geometry type for any): the folders that hold them, the meta of the first, FIDs numbered
    1… in the file's order (GDAL numbers each folder's from 1), geometries and the union of their columns.

    Pins and paths are left out: Google Earth and 奥维 users mark a mine's entrance or a haul road beside
    the patches they draw, and neither has an area. A KML without a polygon is refused."""
    parts: list[tuple[str, dict, np.ndarray, list[np.ndarray]]] = []
    kinds: dict[str, None] = {}  # every geometry type met, in order, for the refusal
    left_out = 0
    for name in layers:
        meta, _, wkb, data = read_raw(source, layer=name, return_fids=True)
        types = [None if g is None else g.geom_type for g in shapely.from_wkb(wkb)]
        kinds.update(dict.fromkeys(kind for kind in types if kind is not None))
        keep = np.array([kind in _POLYGON_TYPES for kind in types], dtype=bool)
        left_out += int((~keep).sum())
        if keep.any():
            parts.append((name, meta, wkb[keep], [column[keep] for column in data]))
    if not parts:
        raise PatchKmlWithoutPolygonsError(path, list(kinds))
    names = list(dict.fromkeys(field for _, meta, _, _ in parts for field in meta["fields"]))
    columns = []
    for field in names:
        pieces = []
        for _, meta, wkb, data in parts:
            fields = list(meta["fields"])
            missing = np.full(len(wkb), None, dtype=object)
            pieces.append(data[fields.index(field)].astype(object) if field in fields else missing)
        columns.append(np.concatenate(pieces))
    wkb = np.concatenate([part[2] for part in parts])
    if left_out:
        logger.warning("patch layer %s: %d pins or paths are not patches, left out", path, left_out)
    meta = parts[0][1] | {"fields": np.array(names, dtype=object)}
    return [part[0] for part in parts], meta, np.arange(1, len(wkb) + 1), wkb, columns


def _check_shapefile_set(path: Path, source: Path | str) -> None:
    """Refuse a Shapefile (a .shp, or one in a .zip) whose .dbf or .prj is missing, naming it: GDAL reads
    the .shp without them, as a layer with no columns or no CRS, which would be refused for that."""
    shp = str(source)
    if not shp.lower().endswith(".shp"):
        return
    stem = shp[: -len(".shp")]
    name = Path(stem).name
    if isinstance(source, Path):
        present = {str(part).lower() for part in layer_files(source)}
    else:
        inside = shp.removeprefix(f"/vsizip/{path}/")
        with zipfile.ZipFile(path) as archive:
            present = {f"/vsizip/{path}/{member}".lower() for member in archive.namelist()}
            name = Path(_as_written(inside, archive.getinfo(inside))).stem
    if f"{stem}.dbf".lower() not in present:
        raise PatchDbfMissingError(path, f"{name}.dbf")
    if f"{stem}.prj".lower() not in present:
        raise PatchCrsMissingError(path, f"{name}.prj")


def read_layer(path: Path, reference: PlanReference) -> PatchLayer:
    """Read, check and measure the patch layer at `path` (see the module docstring)."""
    if path.suffix.lower() in CAD_SUFFIXES:
        raise PatchCadDrawingError(path)
    if path.suffix.lower() not in LAYER_SUFFIXES:
        raise PatchLayerUnreadableError(
            path, f"扩展名 {path.suffix or '—'} 不是图层格式 / not a layer format"
        )
    if not path.exists():
        raise PatchLayerUnreadableError(path, "文件不存在 / no such file", CHECK_THE_PATH)
    if path.suffix.lower() == GEODATABASE_SUFFIX:
        if not path.is_dir():
            raise PatchLayerUnreadableError(path, "不是文件夹（.gdb 是文件夹）/ not a folder (a .gdb is one)")
    elif not path.is_file():
        raise PatchLayerUnreadableError(path, "不是普通文件 / not a regular file")
    with warnings.catch_warnings():
        # A GPS track's or CAD import's measures (PolygonM, as QGIS's "Set M value" writes them) mean
        # nothing for a patch: pyogrio drops them, and its warning would reach the user as Python's.
        warnings.filterwarnings("ignore", r"Measured \(M\) geometry types are not supported", UserWarning)
        try:
            source = _dataset(path)
            _check_shapefile_set(path, source)
            layers = pyogrio.list_layers(source)
            # Tables without geometry beside the layer are not layers: QGIS saves a layer's style into its
            # GeoPackage as one (layer_styles).
            spatial = [(name, kind) for name, kind in layers if kind is not None] or list(layers)
            polygon_layers = [name for name, kind in spatial if _may_hold_polygons(kind)]
            if path.suffix.lower() in KML_SUFFIXES and polygon_layers:
                polygon_layers, meta, fids, wkb, field_data = _read_kml(path, source, polygon_layers)
            elif len(polygon_layers) != 1:
                listed = ", ".join(str(name) for name, _ in layers) or "—"
                raise PatchLayerUnreadableError(
                    path,
                    f"应恰有一个面图层，实有 / it should hold exactly one polygon layer, it holds: {listed}",
                    ONE_LAYER_ONLY if polygon_layers else POLYGONS_ONLY,
                )
            else:
                meta, fids, wkb, field_data = _read_table(path, source, polygon_layers[0])
        except (DataSourceError, DataLayerError) as exc:
            raise PatchLayerUnreadableError(path, str(exc).splitlines()[0]) from None
    if meta["crs"] is None:
        raise PatchCrsMissingError(path)
    try:
        crs = CRS.from_user_input(meta["crs"])
    except CRSError:
        raise PatchCrsUnknownError(path, str(meta["crs"])[:80]) from None
    if not is_accepted_crs(crs):
        raise PatchCrsUnknownError(path, crs_label(crs))
    if len(fids) == 0:
        raise PatchLayerUnreadableError(
            path, "图层没有要素 / the layer has no features", EXPORT_WITH_FEATURES
        )

    names = list(meta["fields"])
    at = _field_index(path, names)
    source = shapely.from_wkb(wkb)
    stored = _transform(source, Transformer.from_crs(crs, STORAGE_EPSG, always_xy=True))
    measured = _transform(stored, Transformer.from_crs(STORAGE_EPSG, AREA_CRS, always_xy=True))
    west, south, east, north = DISTRICT_BOUNDS

    def value(key: str, row: int) -> Any:
        return field_data[at[key]][row] if key in at else None

    area_key = "declared_area_mu" if "declared_area_mu" in at else "declared_area_m2"

    patches = []
    for row, fid in enumerate(int(f) for f in fids):
        code = _text(value("patch_code", row))
        if code is None:
            raise PatchValueError(
                path, fid, names[at["patch_code"]], value("patch_code", row), "为空", "is empty"
            )
        geometry = stored[row]
        empty = geometry is None or shapely.is_empty(geometry)
        if not empty:
            minx, miny, maxx, maxy = shapely.bounds(geometry)
            if minx < west or maxx > east or miny < south or maxy > north:
                lon, lat = shapely.get_coordinates(shapely.point_on_surface(shapely.envelope(geometry)))[0]
                raise PatchOutsideDistrictError(path, fid, code, lon, lat, crs_label(crs))
        township = _text(value("township", row))
        valid = not empty and bool(shapely.is_valid(geometry))
        centroid = None if empty else shapely.get_coordinates(shapely.centroid(geometry))[0]
        patches.append(
            Patch(
                fid=fid,
                patch_code=code,
                project_as_written=str(_text(value("project", row))),
                project_code=_project_code(
                    path, fid, names[at["project"]], value("project", row), township, reference
                ),
                township_as_written=township,
                village=_text(value("village", row)),
                land_type=_text(value("land_type", row)),
                declared_area_mu=_area(
                    path, fid, names[at[area_key]], value(area_key, row), area_key == "declared_area_m2"
                ),
                notes=_text(value("notes", row)),
                geometry_wkb=None if geometry is None else shapely.to_wkb(geometry),
                geometry_type=None if geometry is None else geometry.geom_type,
                is_empty=bool(empty),
                is_valid=valid,
                invalid_reason=None if valid or empty else shapely.is_valid_reason(geometry),
                area_m2=None if empty else float(shapely.area(measured[row])),
                centroid_lon=None if centroid is None else float(centroid[0]),
                centroid_lat=None if centroid is None else float(centroid[1]),
            )
        )
    if area_key == "declared_area_mu":
        _check_area_unit(path, names[at[area_key]], patches)
    return PatchLayer(
        path=path,
        sha256=file_sha256(path),
        layer_name=", ".join(str(name) for name in polygon_layers),
        crs_name=crs_label(crs),
        patches=tuple(patches),
    )


def find_overlaps(patches: Sequence[Patch]) -> list[Overlap]:
    """Every pair of patches whose areas intersect (in m², equal-area), each pair once, ordered by code.

    An invalid polygon is repaired (shapely.make_valid) for this only: it is reported as invalid anyway,
    and what it covers still overlaps its neighbours."""
    stored = shapely.from_wkb([p.geometry_wkb for p in patches])
    measured = _transform(
        shapely.make_valid(stored), Transformer.from_crs(STORAGE_EPSG, AREA_CRS, always_xy=True)
    )
    left, right = shapely.STRtree(measured).query(measured, predicate="intersects")
    overlaps = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        area = float(shapely.area(shapely.intersection(measured[i], measured[j])))
        if area > OVERLAP_NOISE_M2:
            a, b = sorted((patches[i], patches[j]), key=lambda p: (p.patch_code, p.fid))
            overlaps.append(Overlap(a.patch_code, a.fid, b.patch_code, b.fid, round(area, 2)))
    return sorted(overlaps, key=lambda o: (o.patch_code_a, o.patch_code_b, o.fid_a, o.fid_b))
