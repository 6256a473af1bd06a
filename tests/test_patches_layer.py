"""Reading patch layers: the formats and CRSs GIS staff send, what is refused and why, what is measured."""

from __future__ import annotations

import math
import sqlite3
import struct
import subprocess
import sys
import warnings
import zipfile
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import pyproj.datadir
import pyproj.network
import pytest
import shapely
import shapely.affinity
from patch_layers import (
    Feature,
    reprojected,
    sample_features,
    write_features,
    write_kml,
    zip_folder_as_windows,
    zip_shapefile,
)
from pyogrio.raw import read as read_raw
from pyogrio.raw import write as write_layer

from regreen.patches.layer import (
    DISTRICT_BOUNDS,
    SQUARE_METRES_PER_MU,
    PatchAreaUnitError,
    PatchCadDrawingError,
    PatchCrsMissingError,
    PatchCrsUnknownError,
    PatchDbfMissingError,
    PatchFieldMissingError,
    PatchKmlWithoutPolygonsError,
    PatchLayerUnreadableError,
    PatchOutsideDistrictError,
    PatchValueError,
    find_overlaps,
    read_layer,
)
from regreen.patches.register import patches_dir, read_register
from regreen.patches.sample import SAMPLE_FILE, write_sample_layer
from regreen.project import DataDir
from regreen.submissions.reference import PlanReference

REGREEN = Path(sys.executable).parent / "regreen"
SHAPEFILE_NAMES = ("patch_code", "project", "area_mu")
# Layers QGIS 3.22 wrote from the sample's patches of 2023-01 and 2025-01: how, in layers/make_qgis_layers.py.
QGIS_LAYERS = Path(__file__).parent / "layers"


@pytest.fixture(scope="module")
def features(reference: PlanReference) -> list[Feature]:
    return sample_features(reference)


@pytest.fixture(scope="module")
def sample_layer(tmp_path_factory: pytest.TempPathFactory, reference: PlanReference) -> Path:
    path = write_sample_layer(tmp_path_factory.mktemp("register"), reference, seed=11)
    assert path is not None
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REGREEN), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_proj_works_offline_from_the_data_in_its_wheel() -> None:
    """Every CRS regreen takes is defined by the PROJ database pyproj ships; nothing is fetched."""
    assert not pyproj.network.is_network_enabled()
    assert Path(pyproj.datadir.get_data_dir()).is_relative_to(Path(pyproj.__file__).parent)
    for epsg, name in (
        (4490, "China Geodetic Coordinate System 2000"),
        (4527, "CGCS2000 / 3-degree Gauss-Kruger zone 39"),
        (4528, "CGCS2000 / 3-degree Gauss-Kruger zone 40"),
        (4549, "CGCS2000 / 3-degree Gauss-Kruger CM 120E"),
    ):
        assert pyproj.CRS.from_epsg(epsg).name == name
    # 118.8°E, 25°N in zone 40 (central meridian 120°E): false easting 40 500 000 m, about 121 km west.
    x, y = pyproj.Transformer.from_crs(4490, 4528, always_xy=True).transform(118.8, 25.0)
    assert 40_378_000 < x < 40_380_000 and 2_766_000 < y < 2_768_000


# --- the sample layer ----------------------------------------------------------------------------


def test_the_sample_layer_holds_the_notices_patches_around_the_district(
    sample_layer: Path, reference: PlanReference
) -> None:
    layer = read_layer(sample_layer, reference)
    assert layer.crs_name == "EPSG:4528 CGCS2000 / 3-degree Gauss-Kruger zone 40"
    assert layer.layer_name == "示例图斑"
    assert len(layer.patches) == 182
    by_year = Counter(reference.project(p.project_code).plan_year for p in layer.patches)
    assert by_year == {2023: 72, 2024: 53, 2025: 57}
    by_project = Counter(p.project_code for p in layer.patches)
    assert by_project == {p.project_code: p.patches_planned for p in reference.projects}
    for project in reference.projects:
        mu = (
            sum(p.area_m2 for p in layer.patches if p.project_code == project.project_code)
            / SQUARE_METRES_PER_MU
        )
        assert abs(mu / float(project.area_planned_mu) - 1) < 0.05, project.project_code
    assert len({p.patch_code for p in layer.patches}) == 182
    assert all(p.is_valid and p.geometry_type == "Polygon" and p.notes == "示例数据" for p in layer.patches)
    west, south, east, north = DISTRICT_BOUNDS
    assert all(west < p.centroid_lon < east and south < p.centroid_lat < north for p in layer.patches)
    # Both ways of naming a project resolve: the 2025 projects by code, the others by printed name.
    assert {p.project_as_written for p in layer.patches if p.project_code == "2025-01"} == {"2025-01"}
    assert {p.project_as_written for p in layer.patches if p.project_code == "2023-01"} == {
        "百崎乡莲埭村废弃矿山生态治理项目"
    }
    assert find_overlaps(list(layer.patches)) == []
    # GeoPackage 1.2, as the export: QGIS 3.22 (GDAL 3.6) warned that a 1.4 file "may only be partially
    # supported".
    with sqlite3.connect(sample_layer) as gpkg:
        assert gpkg.execute("pragma user_version").fetchone() == (10200,)


def test_declared_areas_are_within_two_percent_of_the_geometry(sample_layer: Path, reference) -> None:
    layer = read_layer(sample_layer, reference)
    for patch in layer.patches:
        measured = Decimal(patch.area_m2 / SQUARE_METRES_PER_MU)
        assert abs(patch.declared_area_mu / measured - 1) < Decimal("0.021"), patch.patch_code


def test_the_sample_never_replaces_a_real_register(tmp_path: Path, reference, features) -> None:
    write_features(tmp_path / "县局图斑.gpkg", features, "EPSG:4528")
    assert write_sample_layer(tmp_path, reference, seed=11) is None
    assert not (tmp_path / SAMPLE_FILE).exists()


# --- formats and coordinate systems --------------------------------------------------------------


# RFC 7946 GeoJSON names no CRS: it is WGS84 by definition, which GDAL reports as EPSG:4326.
@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_a_geojson_in_wgs84_gives_the_same_patches(tmp_path: Path, reference, sample_layer, features) -> None:
    gk = read_layer(sample_layer, reference)
    wgs84 = read_layer(
        write_features(tmp_path / "patches.geojson", reprojected(features, 4326), None), reference
    )
    assert wgs84.crs_name == "EPSG:4326 WGS 84"
    assert [p.patch_code for p in wgs84.patches] == [p.patch_code for p in gk.patches]
    for a, b in zip(gk.patches, wgs84.patches, strict=True):
        assert b.area_m2 == pytest.approx(a.area_m2, rel=1e-6)
        assert (b.centroid_lon, b.centroid_lat) == pytest.approx((a.centroid_lon, a.centroid_lat), abs=1e-7)


@pytest.mark.parametrize("epsg", [4490, 4549])
def test_cgcs2000_geographic_and_a_zone_without_its_number_read_alike(
    tmp_path: Path, reference, sample_layer, features, epsg: int
) -> None:
    gk = read_layer(sample_layer, reference)
    other = read_layer(
        write_features(tmp_path / "p.gpkg", reprojected(features, epsg), f"EPSG:{epsg}"), reference
    )
    assert other.crs_name.startswith(f"EPSG:{epsg} ")
    assert other.area_mu == pytest.approx(gk.area_mu, rel=1e-6)


@pytest.mark.parametrize(
    ("encoding", "names"),
    [("GB18030", ("图斑编号", "项目名称", "申报面积")), ("UTF-8", ("TBBH", "XMMC", "MJ"))],
)
def test_a_shapefile_that_lost_its_cpg_reads_its_chinese(
    tmp_path: Path, reference, features, encoding: str, names: tuple[str, str, str]
) -> None:
    # As ArcGIS on a Chinese Windows writes it (GBK, no .cpg), or as a set sent without its .cpg: Chinese
    # project names (and, in GBK, column names: a .dbf's 10 bytes hold 4 characters), which GDAL alone
    # reads as Latin-1 mojibake.
    named = [replace(f, project=reference.project(f.project).name) for f in features]
    shp = write_features(tmp_path / "图斑.shp", named, "EPSG:4528", names, encoding)
    shp.with_suffix(".cpg").unlink()
    archive = zip_shapefile(shp)
    dbf = shp.with_suffix(".dbf").read_bytes()
    assert names[1].encode(encoding) in dbf and named[0].project.encode(encoding) in dbf

    layer = read_layer(archive, reference)

    assert len(layer.patches) == 182
    assert [p.project_as_written for p in layer.patches] == [f.project for f in named]
    assert [p.project_code for p in layer.patches] == [f.project for f in features]


def test_a_geopackage_with_its_qgis_style_saved_in_it_reads_like_the_geopackage(
    tmp_path: Path, reference, sample_layer, features
) -> None:
    # QGIS's "save style in the database" adds a table without geometry, layer_styles, to the GeoPackage.
    gpkg = write_features(tmp_path / "图斑.gpkg", features, "EPSG:4528")
    style = [np.array(["图斑"], dtype=object), np.array(["<qgis/>"], dtype=object)]
    write_layer(gpkg, None, style, ["f_table_name", "styleQML"], layer="layer_styles", driver="GPKG")
    assert [kind for _, kind in pyogrio.list_layers(gpkg)] == ["Polygon", None]

    layer = read_layer(gpkg, reference)

    assert len(layer.patches) == 182
    assert layer.area_mu == pytest.approx(read_layer(sample_layer, reference).area_mu, rel=1e-9)


@pytest.mark.parametrize(
    "name",
    [
        # Save As… in UTF-8: a .cpg, and 图斑编号 cut to 10 bytes within its 号 (pyogrio raised on it).
        "qgis-3.22-save-as-utf8.shp",
        # Processing's Save vector features: UTF-8 without a .cpg, the same names (read as mojibake).
        "qgis-3.22-savefeatures.shp",
        # A custom CRS, EPSG:4528's PROJ string, as USER:100000 and with +towgs84=0,0,0 in ESRI WKT.
        "qgis-3.22-user-crs.gpkg",
        "qgis-3.22-proj-crs.shp",
        # Set M value: PolygonM, whose measures pyogrio drops with a warning.
        "qgis-3.22-setmvalue.gpkg",
    ],
)
def test_layers_qgis_writes_read_like_the_sample(name: str, reference, sample_layer) -> None:
    sample = {p.patch_code: p for p in read_layer(sample_layer, reference).patches}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = read_layer(QGIS_LAYERS / name, reference)

    assert len(layer.patches) == 41
    assert {p.project_code for p in layer.patches} == {"2023-01", "2025-01"}
    for patch in layer.patches:
        expected = sample[patch.patch_code]
        assert patch.project_as_written == expected.project_as_written
        assert patch.project_code == expected.project_code
        assert (patch.village, patch.land_type, patch.notes) == (
            expected.village,
            expected.land_type,
            "示例数据",
        )
        assert patch.declared_area_mu == expected.declared_area_mu
        assert patch.area_m2 == pytest.approx(expected.area_m2, rel=1e-6)
        assert (patch.centroid_lon, patch.centroid_lat) == pytest.approx(
            (expected.centroid_lon, expected.centroid_lat), abs=1e-8
        )


def test_a_custom_crs_is_named_by_its_proj_string_and_refused_on_another_ellipsoid(
    tmp_path: Path, reference, features
) -> None:
    tmerc = "+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=40500000 +y_0=0 +units=m +no_defs"
    assert read_layer(QGIS_LAYERS / "qgis-3.22-user-crs.gpkg", reference).crs_name.startswith(tmerc[:40])
    # Xi'an 1980 as a custom CRS (IAG 1975 ellipsoid): not CGCS2000, refused naming what it is.
    with pytest.raises(PatchCrsUnknownError, match=r"“\+proj=tmerc .*\+ellps=IAU76 "):
        read_layer(
            write_features(tmp_path / "p.gpkg", features, f"{tmerc} +a=6378140 +rf=298.257"), reference
        )


def test_patches_load_takes_the_shapefile_qgis_saves_in_utf8(tmp_path: Path) -> None:
    for name in ("qgis-3.22-save-as-utf8.shp", "qgis-3.22-setmvalue.gpkg"):
        loaded = run("patches", "load", QGIS_LAYERS / name, "--data-dir", tmp_path / "data")
        assert loaded.returncode == 0, loaded.stderr
        assert "41" in loaded.stdout and loaded.stderr == ""


def test_a_zipped_shapefile_reads_like_the_geopackage(
    tmp_path: Path, reference, sample_layer, features
) -> None:
    shp = write_features(tmp_path / "tuban.shp", features, "EPSG:4528", SHAPEFILE_NAMES)
    layer = read_layer(zip_shapefile(shp), reference)
    assert len(layer.patches) == 182
    assert layer.area_mu == pytest.approx(read_layer(sample_layer, reference).area_mu, rel=1e-9)


def test_an_arcgis_file_geodatabase_and_its_zip_read_like_the_geopackage(
    tmp_path: Path, reference, sample_layer, features
) -> None:
    # ArcGIS's own format is a folder of files; GIS staff send the folder, or zip it to mail it.
    gdb = write_features(tmp_path / "图斑.gdb", features, "EPSG:4528")
    assert gdb.is_dir()
    archive = tmp_path / "图斑.gdb.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for part in sorted(gdb.iterdir()):
            out.write(part, f"{gdb.name}/{part.name}")
    expected = read_layer(sample_layer, reference)

    for path in (gdb, archive):
        layer = read_layer(path, reference)
        assert layer.crs_name.startswith("EPSG:4528")
        assert [p.patch_code for p in layer.patches] == [p.patch_code for p in expected.patches]
        assert [p.project_code for p in layer.patches] == [p.project_code for p in expected.patches]
        # A geodatabase stores coordinates on its grid (0.1 mm here), which moves the areas by ~1e-8.
        assert layer.area_mu == pytest.approx(expected.area_mu, rel=1e-7)


def test_a_folder_zipped_whole_as_windows_zips_it_reads_like_the_geopackage(
    tmp_path: Path, reference, sample_layer, features
) -> None:
    # Right-click the layer's folder, "send to compressed folder": the layer is in a folder inside the
    # zip, its names in GBK without the UTF-8 flag; GDAL alone looks only at the zip's root.
    folder = tmp_path / "图斑数据"
    folder.mkdir()
    write_features(folder / "图斑.shp", features, "EPSG:4528", SHAPEFILE_NAMES, encoding="GBK")
    archive = zip_folder_as_windows(folder, tmp_path / "图斑数据.zip")
    with zipfile.ZipFile(archive) as packed:
        assert not any(info.flag_bits & 0x800 for info in packed.infolist())
    expected = read_layer(sample_layer, reference)

    layer = read_layer(archive, reference)

    assert [p.patch_code for p in layer.patches] == [p.patch_code for p in expected.patches]
    assert layer.area_mu == pytest.approx(expected.area_mu, rel=1e-9)


def test_a_geodatabase_zipped_without_its_folder_entry_reads(tmp_path: Path, reference, features) -> None:
    gdb = write_features(tmp_path / "图斑.gdb", features, "EPSG:4528")
    archive = tmp_path / "图斑.zip"
    with zipfile.ZipFile(archive, "w") as out:  # files only, as `zip -D` and some tools write
        for part in sorted(gdb.iterdir()):
            out.write(part, f"{gdb.name}/{part.name}")
    assert len(read_layer(archive, reference).patches) == 182


def test_a_layer_of_no_declared_geometry_type_with_an_arc_reads(
    tmp_path: Path, reference, sample_layer, features
) -> None:
    # A GeoPackage whose geometry column is GEOMETRY (ogr2ogr -nlt GEOMETRY, PostGIS exports), one patch a
    # CurvePolygon: a circle drawn as one arc, as ArcGIS draws them. It was refused as "it should hold
    # exactly one polygon layer, it holds: 图斑".
    gpkg = write_features(tmp_path / "图斑.gpkg", features, "EPSG:4528")
    meta, _, wkb, fields = read_raw(gpkg)
    first = shapely.from_wkb(wkb[0])
    x, y = shapely.get_coordinates(shapely.centroid(first))[0]
    radius = math.sqrt(shapely.area(first) / math.pi)
    arc = [(x + radius, y), (x - radius, y), (x + radius, y)]  # a full circle: a closed CircularString
    ring = struct.pack("<BII", 1, 8, len(arc)) + b"".join(struct.pack("<dd", *point) for point in arc)
    wkb[0] = struct.pack("<BII", 1, 10, 1) + ring  # a CurvePolygon of that ring
    generic = tmp_path / "generic.gpkg"
    write_layer(
        generic,
        wkb,
        fields,
        meta["fields"],
        layer="图斑",
        driver="GPKG",
        geometry_type="Unknown",
        crs="EPSG:4528",
    )
    assert pyogrio.list_layers(generic).tolist() == [["图斑", "Unknown"]]

    layer = read_layer(generic, reference)

    assert len(layer.patches) == 182
    circle = layer.patches[0]
    assert circle.geometry_type == "Polygon" and circle.is_valid
    # The arc as segments: the circle's area within 0.1 % of the polygon it stands for.
    assert circle.area_m2 == pytest.approx(read_layer(gpkg, reference).patches[0].area_m2, rel=1e-3)


def _by_plan_year(features: list[Feature]) -> dict[str, list[Feature]]:
    folders: dict[str, list[Feature]] = {}
    for f in features:
        folders.setdefault(f"{f.project[:4]}年", []).append(f)
    return folders


def test_a_google_earth_kml_and_kmz_in_folders_read_like_the_geopackage(
    tmp_path: Path, reference, sample_layer, features
) -> None:
    # Google Earth's "Save Place As": a folder per plan year (GDAL reads each as a layer of its own), a pin
    # at a mine's entrance among the polygons, coordinates with altitude 0; the .kmz is that doc.kml
    # zipped. Both were refused: "扩展名 .kml 不是图层格式 / not a layer format".
    wgs84 = reprojected(features, 4326)
    folders = _by_plan_year(wgs84)
    entrance = shapely.point_on_surface(wgs84[0].polygon)
    folders["2023年"].append(Feature("矿山入口", "", 0.0, entrance))
    kml = write_kml(tmp_path / "图斑.kml", folders)
    kmz = tmp_path / "图斑.kmz"
    with zipfile.ZipFile(kmz, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(kml, "doc.kml")
    assert [name for name, _ in pyogrio.list_layers(kml)] == ["2023年", "2024年", "2025年"]
    expected = read_layer(sample_layer, reference)

    for path in (kml, kmz):
        layer = read_layer(path, reference)
        assert layer.crs_name == "EPSG:4326 WGS 84" and layer.layer_name == "2023年, 2024年, 2025年"
        assert [p.fid for p in layer.patches] == list(range(1, 183))
        assert sorted((p.patch_code, p.project_code) for p in layer.patches) == sorted(
            (p.patch_code, p.project_code) for p in expected.patches
        )
        assert layer.area_mu == pytest.approx(expected.area_mu, rel=1e-6)


def test_a_kmz_as_qgis_writes_it_and_a_kml_of_multigeometries_with_altitudes_read(
    tmp_path: Path, reference, sample_layer, features
) -> None:
    # QGIS and ogr2ogr write a .kmz with GDAL's LIBKML driver: a doc.kml linking to layers/<name>.kml.
    # (GDAL cannot read back one whose layer name is Chinese: the link to it is not followed.)
    # LocaSpace writes each polygon in a MultiGeometry, at the terrain's altitude, its columns as <Data>.
    wgs84 = reprojected(features, 4326)
    kmz = tmp_path / "图斑.kmz"
    write_layer(
        kmz,
        np.array([shapely.to_wkb(f.polygon) for f in wgs84], dtype=object),
        [np.array([f.code for f in wgs84], dtype=object), np.array([f.project for f in wgs84], dtype=object)]
        + [np.array([f.declared_mu for f in wgs84])],
        ["图斑编号", "项目名称", "申报面积"],
        driver="LIBKML",
        geometry_type="Polygon",
        layer="tuban",
        crs="EPSG:4326",
    )
    multi = [replace(f, polygon=shapely.MultiPolygon([f.polygon])) for f in wgs84]
    kml = write_kml(
        tmp_path / "locaspace.kml", {"图斑": multi}, ("TBBH", "XMMC", "MJ"), data=True, altitude=35.2
    )
    expected = read_layer(sample_layer, reference)

    for path, kind in ((kmz, "Polygon"), (kml, "MultiPolygon")):
        layer = read_layer(path, reference)
        assert [p.patch_code for p in layer.patches] == [p.patch_code for p in expected.patches]
        assert {p.geometry_type for p in layer.patches} == {kind}
        assert shapely.from_wkb(layer.patches[0].geometry_wkb).has_z is False
        assert layer.area_mu == pytest.approx(expected.area_mu, rel=1e-6)


def test_a_kml_of_pins_or_paths_only_is_refused_saying_patches_are_polygons(
    tmp_path: Path, reference, features
) -> None:
    wgs84 = reprojected(features, 4326)[:3]
    pins = [replace(f, polygon=shapely.point_on_surface(f.polygon)) for f in wgs84]
    paths = [replace(f, polygon=f.polygon.exterior) for f in wgs84]
    for name, placemarks, kind in (("标注.kml", pins, "Point"), ("轨迹.kml", paths, "LineString")):
        with pytest.raises(PatchKmlWithoutPolygonsError) as refused:
            read_layer(write_kml(tmp_path / name, {"图斑": placemarks}), reference)
        message = str(refused.value)
        assert name in message and f"只有：{kind}" in message and "holds no polygon placemark" in message


@pytest.mark.parametrize(
    ("names", "data", "says"),
    [
        # 奥维互动地图's plain export: each patch's code as the placemark's <name>, no attributes.
        (None, False, "a placemark's name and description are not"),
        # <Data name="图斑编号">: GDAL's LIBKML driver reads the name as 12 underscores.
        (("图斑编号", "项目名称", "申报面积"), True, "<Data> attributes with Chinese names cannot be read"),
    ],
)
def test_a_kml_without_readable_attributes_is_refused_saying_where_they_belong(
    tmp_path: Path, reference, features, names, data: bool, says: str
) -> None:
    kml = write_kml(tmp_path / "图斑.kml", {"图斑": reprojected(features, 4326)[:3]}, names, data=data)
    with pytest.raises(PatchFieldMissingError) as refused:
        read_layer(kml, reference)
    message = str(refused.value)
    assert "缺少字段“图斑编号”" in message and "ExtendedData" in message and says in message
    assert "altitudeMode" not in message  # GDAL's own KML columns are not the user's


def test_a_zip_of_two_layers_is_refused_naming_them(tmp_path: Path, reference, features) -> None:
    for name in ("2023年", "2024年"):
        (tmp_path / name).mkdir()
        write_features(tmp_path / name / "图斑.shp", features, "EPSG:4528", SHAPEFILE_NAMES)
    archive = tmp_path / "图斑.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for part in sorted(tmp_path.glob("202*/*")):
            out.write(part, f"{part.parent.name}/{part.name}")
    with pytest.raises(PatchLayerUnreadableError) as refused:
        read_layer(archive, reference)
    message = str(refused.value)
    assert "several layers: 2023年/图斑.shp, 2024年/图斑.shp" in message
    assert "give the patch layer alone" in message and "give a GeoPackage" not in message


def test_a_geodatabase_of_two_polygon_feature_classes_is_refused_naming_them(
    tmp_path: Path, reference, features
) -> None:
    gdb = write_features(tmp_path / "底图.gdb", features, "EPSG:4528")
    polygon = np.array([shapely.to_wkb(features[0].polygon)], dtype=object)
    write_layer(
        gdb, polygon, [], [], layer="村界", driver="OpenFileGDB", geometry_type="Polygon", crs="EPSG:4528"
    )
    with pytest.raises(PatchLayerUnreadableError) as refused:
        read_layer(gdb, reference)
    assert "村界" in str(refused.value) and "底图" in str(refused.value)
    assert "exactly one polygon layer" in str(refused.value)
    assert "give the patch layer alone" in str(refused.value)


def test_refusals_of_a_layer_in_a_readable_format_say_what_to_do_instead_of_naming_formats(
    tmp_path: Path, reference, features
) -> None:
    # A layer GDAL reads, refused for what it holds (or a path with nothing there), ended with the advice
    # for an unreadable file, "give a GeoPackage (.gpkg), a Shapefile …": no other format would help.
    empty = write_features(tmp_path / "图斑.gpkg", features[:0], "EPSG:4528")  # saved with nothing selected
    lines = tmp_path / "图斑线.gpkg"  # the patches' outlines digitised as lines, not polygons
    outlines = [shapely.to_wkb(shapely.boundary(f.polygon)) for f in features]
    write_layer(
        lines,
        np.array(outlines, dtype=object),
        [np.array([f.code for f in features], dtype=object)],
        ["图斑编号"],
        driver="GPKG",
        geometry_type="LineString",
        crs="EPSG:4528",
    )
    messages = {}
    for path, reason, fix in (
        (empty, "the layer has no features", 'without "Save only selected features"'),
        (lines, "exactly one polygon layer, it holds: 图斑线", "Lines to Polygons"),
        (tmp_path / "别处.gpkg", "no such file", "check the path"),
        (tmp_path / "别处.gdb", "no such file", "check the path"),  # was "not a folder (a .gdb is one)"
    ):
        with pytest.raises(PatchLayerUnreadableError) as refused:
            read_layer(path, reference)
        message = messages[path] = str(refused.value)
        assert reason in message and fix in message
        assert "give a GeoPackage" not in message and "请提供 GeoPackage" not in message
    # What it holds is said in Chinese as well.
    assert "图层没有要素" in messages[empty] and "仅保存选中的要素" in messages[empty]


def test_a_file_gdal_cannot_read_is_told_the_formats_that_are_read(tmp_path: Path, reference) -> None:
    broken = tmp_path / "图斑.gpkg"
    broken.write_bytes(b"not a GeoPackage")
    with pytest.raises(PatchLayerUnreadableError) as refused:
        read_layer(broken, reference)
    assert "give a GeoPackage (.gpkg), a Shapefile (.shp or a .zip of it)" in str(refused.value)
    assert "请提供 GeoPackage（.gpkg）" in str(refused.value)
    (tmp_path / "图斑.gdb").write_bytes(b"")  # a geodatabase is a folder
    (tmp_path / "文件夹.gpkg").mkdir()
    for path, reason in (
        (tmp_path / "图斑.gdb", "not a folder"),
        (tmp_path / "文件夹.gpkg", "not a regular file"),
    ):
        with pytest.raises(PatchLayerUnreadableError) as refused:
            read_layer(path, reference)
        assert reason in str(refused.value) and "give a GeoPackage" in str(refused.value)


def test_a_shapefile_without_its_prj_is_refused(tmp_path: Path, reference, features) -> None:
    shp = write_features(tmp_path / "tuban.shp", features, "EPSG:4528", SHAPEFILE_NAMES)
    shp.with_suffix(".prj").unlink()
    with pytest.raises(PatchCrsMissingError) as refused:
        read_layer(shp, reference)
    assert str(shp) in str(refused.value)
    assert "没有坐标参考系（缺少 tuban.prj）" in str(refused.value)
    assert "has no coordinate reference system (tuban.prj is missing beside it)" in str(refused.value)


@pytest.mark.parametrize("zipped", [False, True])
def test_a_shapefile_without_its_dbf_is_refused_naming_it(
    tmp_path: Path, reference, features, zipped: bool
) -> None:
    # Sent as .shp/.shx/.prj: GDAL reads the shapes alone, and it was refused as "has no patch_code column
    # (its columns: —)".
    shp = write_features(tmp_path / "图斑.shp", features, "EPSG:4528", SHAPEFILE_NAMES)
    shp.with_suffix(".dbf").unlink()
    layer = zip_shapefile(shp) if zipped else shp
    with pytest.raises(PatchDbfMissingError) as refused:
        read_layer(layer, reference)
    message = str(refused.value)
    assert str(layer) in message and "缺少属性表 图斑.dbf" in message and "lacks 图斑.dbf" in message


@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # a drawing names none
def test_a_cad_drawing_is_refused_saying_how_to_export_it(tmp_path: Path, reference, features) -> None:
    # A design drawn in AutoCAD in zone 40's coordinates, no CRS in the file: the .dxf as GDAL's DXF
    # writer saves the patches (polylines on layer 0, no attributes), and a .dwg (AutoCAD 2018's header;
    # GDAL reads none). They were refused as "扩展名 .dxf 不是图层格式 / not a layer format".
    dxf = tmp_path / "修复设计.dxf"
    write_layer(
        dxf,
        np.array([shapely.to_wkb(f.polygon) for f in features[:3]], dtype=object),
        [],
        [],
        driver="DXF",
        geometry_type="Polygon",
    )
    dwg = tmp_path / "修复设计.dwg"
    dwg.write_bytes(b"AC1032" + bytes(122))
    for drawing in (dxf, dwg):
        with pytest.raises(PatchCadDrawingError) as refused:
            read_layer(drawing, reference)
        message = str(refused.value)
        assert str(drawing) in message and "CAD 图纸" in message and "is a CAD drawing" in message
        assert "Shapefile 或 GeoPackage" in message and "EPSG:4528" in message
        assert "not a layer format" not in message


def test_another_datum_is_refused(tmp_path: Path, reference, features) -> None:
    xian80 = write_features(tmp_path / "xian80.gpkg", reprojected(features, 4610), "EPSG:4610")
    with pytest.raises(PatchCrsUnknownError, match="Xian 1980"):
        read_layer(xian80, reference)


def test_the_wrong_zone_puts_patches_outside_the_district_and_is_refused(
    tmp_path: Path, reference, features
) -> None:
    # Zone 40's coordinates labelled as zone 39: every patch lands some 1000 km east.
    wrong = write_features(tmp_path / "zone39.gpkg", features, "EPSG:4527")
    with pytest.raises(PatchOutsideDistrictError) as refused:
        read_layer(wrong, reference)
    assert refused.value.fid == 1 and refused.value.code == "2023-01-001"
    assert "FID 1" in str(refused.value) and "2023-01-001" in str(refused.value)


def test_swapped_longitude_and_latitude_are_named(tmp_path: Path, reference, features) -> None:
    def swap(geometry: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geometry, lambda xy: xy[:, ::-1])

    swapped = [
        Feature(f.code, f.project, f.declared_mu, swap(f.polygon)) for f in reprojected(features, 4490)
    ]
    with pytest.raises(PatchOutsideDistrictError, match="look swapped"):
        read_layer(write_features(tmp_path / "swapped.gpkg", swapped, "EPSG:4490"), reference)


def test_zone_coordinates_under_a_crs_in_degrees_are_named_metres(
    tmp_path: Path, reference, features
) -> None:
    # Zone 40's eastings and northings with the CRS set to CGCS2000 geographic, as when a layer's CRS is
    # set by hand to the wrong one: it said "lies at 40385082.0000°E", and to check the zone.
    labelled = write_features(tmp_path / "degrees.gpkg", features, "EPSG:4490")
    with pytest.raises(PatchOutsideDistrictError) as refused:
        read_layer(labelled, reference)
    message = str(refused.value)
    assert "以米为单位的投影坐标" in message and "are metres of a projected CRS" in message
    assert "EPSG:4528" in message and "°E" not in message.split("outside")[0]


def test_a_project_not_in_the_plan_is_refused_with_the_closest_ones(
    tmp_path: Path, reference, features
) -> None:
    altered = [*features[:5], Feature("X-1", "张坂镇浮山村废弃矿山生态治理项目", 10.0, features[5].polygon)]
    with pytest.raises(PatchValueError) as refused:
        read_layer(write_features(tmp_path / "p.gpkg", altered, "EPSG:4528"), reference)
    message = str(refused.value)
    assert "FID 6" in message and "项目名称" in message and "浮山村" in message
    assert "不是方案中的项目" in message and "is not a project of the plan" in message


def test_a_layer_without_a_patch_code_column_is_refused(tmp_path: Path, reference, features) -> None:
    path = write_features(tmp_path / "p.gpkg", features, "EPSG:4528", ("编号x", "项目名称", "申报面积"))
    with pytest.raises(PatchFieldMissingError, match="图斑编号"):
        read_layer(path, reference)


# --- what is loaded as it is, for the suites to report ---------------------------------------------


def test_an_invalid_polygon_is_loaded_and_says_why(tmp_path: Path, reference, features) -> None:
    x0, y0, x1, y1 = shapely.bounds(features[2].polygon)
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    altered = [*features[:2], Feature(features[2].code, features[2].project, 9.0, bowtie), *features[3:]]
    layer = read_layer(write_features(tmp_path / "p.gpkg", altered, "EPSG:4528"), reference)
    broken = [p for p in layer.patches if not p.is_valid]
    assert [p.patch_code for p in broken] == [features[2].code]
    assert broken[0].invalid_reason.startswith("Self-intersection")


def test_two_overlapping_patches_are_measured_in_square_metres(tmp_path: Path, reference, features) -> None:
    # Two 100 m squares, the second 40 m east of the first: 60 m × 100 m in common.
    x, y = shapely.get_coordinates(shapely.centroid(features[0].polygon))[0]
    first = shapely.box(x, y, x + 100, y + 100)
    second = shapely.affinity.translate(first, 40, 0)
    altered = [Feature("A", "2023-01", 15.0, first), Feature("B", "2023-01", 15.0, second)]
    layer = read_layer(write_features(tmp_path / "p.gpkg", altered, "EPSG:4528"), reference)
    (overlap,) = find_overlaps(list(layer.patches))
    assert (overlap.patch_code_a, overlap.patch_code_b) == ("A", "B")
    # Gauss-Krüger metres 1.2° from the central meridian are about 0.02 % longer than true ones.
    assert overlap.overlap_m2 == pytest.approx(6000, rel=0.001)
    assert layer.patches[0].area_m2 == pytest.approx(10000, rel=0.001)


# --- the command ---------------------------------------------------------------------------------


def test_patches_load_installs_the_layer_and_refuses_one_without_crs(
    tmp_path: Path, sample_layer, features
) -> None:
    data_dir = DataDir(tmp_path / "data")
    loaded = run("patches", "load", sample_layer, "--data-dir", data_dir.root)
    assert loaded.returncode == 0, loaded.stderr
    assert "182" in loaded.stdout and "EPSG:4528" in loaded.stdout
    installed = patches_dir(data_dir) / sample_layer.name
    assert read_raw(installed)[0]["crs"] == "EPSG:4528"

    shp = write_features(tmp_path / "tuban.shp", features, "EPSG:4528", SHAPEFILE_NAMES)
    shp.with_suffix(".prj").unlink()
    refused = run("patches", "load", shp, "--data-dir", data_dir.root)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert str(shp) in refused.stderr and " / patch layer " in refused.stderr
    # Nothing changed: the register still holds the layer loaded before.
    assert sorted(p.name for p in patches_dir(data_dir).iterdir()) == [sample_layer.name]


def test_patches_load_keeps_a_geodatabase_folder_as_a_zip_of_its_files(
    tmp_path: Path, reference, features
) -> None:
    gdb = write_features(tmp_path / "图斑.gdb", features, "EPSG:4528")
    data_dir = DataDir(tmp_path / "data")
    loaded = run("patches", "load", gdb, "--data-dir", data_dir.root)
    assert loaded.returncode == 0, loaded.stderr
    assert "182" in loaded.stdout

    [installed] = patches_dir(data_dir).iterdir()
    assert installed.name == "图斑.gdb.zip"
    with zipfile.ZipFile(installed) as archive:
        kept = {name: archive.read(name) for name in archive.namelist()}
    assert kept == {f"图斑.gdb/{part.name}": part.read_bytes() for part in gdb.iterdir()}
    [layer] = read_register(patches_dir(data_dir), reference)
    assert len(layer.patches) == 182 and layer.crs_name.startswith("EPSG:4528")


def test_patches_load_keeps_a_kmz_byte_for_byte_and_refuses_a_kml_of_pins(
    tmp_path: Path, reference, features
) -> None:
    wgs84 = reprojected(features, 4326)
    kml = write_kml(tmp_path / "doc.kml", _by_plan_year(wgs84))
    kmz = tmp_path / "图斑.kmz"
    with zipfile.ZipFile(kmz, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(kml, "doc.kml")
    data_dir = DataDir(tmp_path / "data")
    loaded = run("patches", "load", kmz, "--data-dir", data_dir.root)
    assert loaded.returncode == 0, loaded.stderr
    assert "182" in loaded.stdout and "EPSG:4326" in loaded.stdout
    [installed] = patches_dir(data_dir).iterdir()
    assert installed.name == kmz.name and installed.read_bytes() == kmz.read_bytes()
    [layer] = read_register(patches_dir(data_dir), reference)
    assert len(layer.patches) == 182

    pins = [replace(f, polygon=shapely.point_on_surface(f.polygon)) for f in wgs84]
    refused = run(
        "patches", "load", write_kml(tmp_path / "标注.kml", {"标注": pins}), "--data-dir", data_dir.root
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "holds no polygon placemark, only: Point" in refused.stderr
    assert [p.name for p in patches_dir(data_dir).iterdir()] == [kmz.name]


def test_patches_load_is_refused_while_a_nightly_holds_the_lock(tmp_path: Path, sample_layer) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    lock = data_dir.root / "nightly.lock"
    # A real second process holds the nightly's flock, as a running nightly does.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        refused = run("patches", "load", sample_layer, "--data-dir", data_dir.root)
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 75, refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert str(lock) in refused.stderr
    assert not patches_dir(data_dir).exists() or not any(patches_dir(data_dir).iterdir())

    loaded = run("patches", "load", sample_layer, "--data-dir", data_dir.root)
    assert loaded.returncode == 0, loaded.stderr
    assert sorted(p.name for p in patches_dir(data_dir).iterdir()) == [sample_layer.name]


@pytest.mark.parametrize(
    ("unit", "factor", "says_zh", "says_en"),
    [
        # The land survey's 图斑面积 (TBMJ) is kept in square metres.
        ("m2", 10000 / 15, "看来以平方米为单位", "looks to hold square metres"),
        ("ha", 1 / 15, "看来以公顷为单位", "looks to hold hectares"),
    ],
)
def test_a_declared_area_in_another_unit_is_refused_saying_which(
    tmp_path: Path, reference, features, unit: str, factor: float, says_zh: str, says_en: str
) -> None:
    # Read as mu, every patch was declared 667 times its size (or a fifteenth of it), loaded with a
    # warning each from the area suite.
    other = [replace(f, declared_mu=round(f.declared_mu * factor, 2)) for f in features]
    path = write_features(tmp_path / f"{unit}.gpkg", other, "EPSG:4528", ("图斑编号", "项目名称", "图斑面积"))
    with pytest.raises(PatchAreaUnitError) as refused:
        read_layer(path, reference)
    message = str(refused.value)
    assert "“图斑面积”列" in message and says_zh in message and says_en in message
    assert f"patch {features[0].code} (FID 1)" in message


def test_a_declared_area_column_in_square_metres_by_its_name_is_read_as_mu(
    tmp_path: Path, reference, features
) -> None:
    square_metres = [replace(f, declared_mu=round(f.declared_mu * 10000 / 15, 1)) for f in features]
    path = write_features(
        tmp_path / "m2.gpkg", square_metres, "EPSG:4528", ("图斑编号", "项目名称", "面积(平方米)")
    )
    layer = read_layer(path, reference)
    declared = {p.patch_code: p.declared_area_mu for p in layer.patches}
    assert all(abs(declared[f.code] - Decimal(str(f.declared_mu))) <= Decimal("0.01") for f in features)
