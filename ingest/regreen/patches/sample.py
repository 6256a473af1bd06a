"""A synthetic patch layer for the sample: the notice's patches, placed around the district, marked as sample.

Each plan project gets as many patches as the notice gives it, irregular polygons whose areas add up to
within a few percent of the project's planned area, grouped near its township and laid out so that no
two overlap. The layer is a GeoPackage in CGCS2000 / 3-degree Gauss-Krüger zone 40 (EPSG:4528: the zone
of central meridian 120°E, which the district's land survey uses at 118.8°E, with the zone number in
front of the easting), as a land survey office would send it. Marked as sample three ways: the file
name starts with 示例-, the layer is called 示例图斑, and every 备注 says 示例数据. Everything follows from
the seed.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyogrio
import shapely
import shapely.affinity
from pyogrio.raw import write as write_layer
from pyproj import Transformer

from regreen.patches.export import GEOPACKAGE_OPTIONS
from regreen.patches.layer import SQUARE_METRES_PER_MU, STORAGE_EPSG
from regreen.patches.register import register_files
from regreen.project import SEEDS_DIR
from regreen.submissions.reference import PlanReference, ProjectRef

SAMPLE_FILE = "示例-图斑.gpkg"
SAMPLE_LAYER = "示例图斑"
SAMPLE_NOTE = "示例数据"
SAMPLE_EPSG = 4528
# Roughly where each township's abandoned quarries are (lon, lat); the sample's projects gather around them.
TOWNSHIP_ANCHORS = {
    "洛阳镇": (118.70, 24.97),
    "东园镇": (118.78, 24.98),
    "百崎乡": (118.87, 24.99),
    "张坂镇": (118.83, 25.06),
}
_LAND_TYPES = ("采矿用地", "采矿用地", "采矿用地", "裸土地", "其他草地")
_GRID_COLUMNS = 3
_GAP_M = 600.0  # between projects' clusters, so that the report's map can label each


@dataclass(frozen=True)
class SamplePatch:
    code: str
    project: ProjectRef
    village: str
    land_type: str
    declared_area_mu: Decimal
    polygon: shapely.Polygon  # EPSG:4528


def _villages(project: ProjectRef) -> list[str]:
    """The seed's villages whose name (without 村) the project's name contains (菘山 written for 崧山)."""
    with (SEEDS_DIR / "villages.csv").open(encoding="utf-8", newline="") as handle:
        seeds = [row["village_name"] for row in csv.DictReader(handle)]
    name = project.name.replace("菘山", "崧山")
    return [village for village in seeds if village.removesuffix("村") in name] or ["—"]


def _polygon(rng: random.Random, area_m2: float) -> shapely.Polygon:
    """An irregular, star-shaped (so always valid) polygon of `area_m2` around the origin."""
    corners = rng.randint(6, 10)
    angles = sorted(2 * math.pi * (i + rng.uniform(-0.3, 0.3)) / corners for i in range(corners))
    radii = [rng.uniform(0.75, 1.25) for _ in range(corners)]
    shape = shapely.Polygon([(r * math.cos(a), r * math.sin(a)) for r, a in zip(radii, angles, strict=True)])
    return shapely.affinity.scale(shape, *(2 * [math.sqrt(area_m2 / shape.area)]), origin=(0, 0))


def _project_patches(project: ProjectRef, seed: int) -> list[tuple[shapely.Polygon, Decimal, str, str]]:
    """The project's patches around (0, 0), laid out on a grid: polygon, declared mu, village, land type."""
    rng = random.Random(f"{seed}/patches/{project.project_code}")
    count = project.patches_planned
    total_m2 = float(project.area_planned_mu) * rng.uniform(0.96, 1.04) * SQUARE_METRES_PER_MU
    weights = [rng.uniform(0.5, 1.5) for _ in range(count)]
    areas = [total_m2 * w / sum(weights) for w in weights]
    shapes = [_polygon(rng, area) for area in areas]
    spacing = 2 * max(math.sqrt(area / math.pi) for area in areas) * 1.35
    columns = math.ceil(math.sqrt(count))
    villages = _villages(project)
    placed = []
    for index, shape in enumerate(shapes):
        row, column = divmod(index, columns)
        x = (column - (columns - 1) / 2) * spacing
        y = -(row - (math.ceil(count / columns) - 1) / 2) * spacing
        # Surveyed areas are rounded and a little off the polygon's: within ±2 %.
        declared = Decimal(shape.area / SQUARE_METRES_PER_MU * rng.uniform(0.98, 1.02)).quantize(
            Decimal("0.01")
        )
        placed.append(
            (
                shapely.affinity.translate(shape, x, y),
                declared,
                villages[index % len(villages)],
                rng.choice(_LAND_TYPES),
            )
        )
    return placed


def sample_patches(reference: PlanReference, seed: int) -> list[SamplePatch]:
    """Every plan project's patches, in EPSG:4528, each township's projects on a grid around its anchor."""
    to_gk = Transformer.from_crs(STORAGE_EPSG, SAMPLE_EPSG, always_xy=True)
    patches: list[SamplePatch] = []
    for township in reference.townships:
        projects = sorted(reference.township_projects(township), key=lambda p: p.project_code)
        clusters = [_project_patches(project, seed) for project in projects]
        extents = [shapely.bounds(shapely.GeometryCollection([p[0] for p in c])) for c in clusters]
        cell = max(max(b[2] - b[0], b[3] - b[1]) for b in extents) + _GAP_M
        anchor_x, anchor_y = to_gk.transform(*TOWNSHIP_ANCHORS[township])
        columns = min(_GRID_COLUMNS, len(projects))
        rows = math.ceil(len(projects) / columns)
        for index, (project, cluster) in enumerate(zip(projects, clusters, strict=True)):
            row, column = divmod(index, columns)
            x = anchor_x + (column - (columns - 1) / 2) * cell
            y = anchor_y - (row - (rows - 1) / 2) * cell
            for number, (shape, declared, village, land_type) in enumerate(cluster, start=1):
                patches.append(
                    SamplePatch(
                        code=f"{project.project_code}-{number:03d}",
                        project=project,
                        village=village,
                        land_type=land_type,
                        declared_area_mu=declared,
                        polygon=shapely.affinity.translate(shape, x, y),
                    )
                )
    return patches


def write_sample_layer(folder: Path, reference: PlanReference, seed: int) -> Path | None:
    """Write the sample layer as `folder/示例-图斑.gpkg`, unless the folder (the patch register) holds a
    layer that is not a sample: a real register is never replaced by sample data (returns None then).
    The 2025 projects are given by code, the others by their name as printed, as GIS staff do both."""
    if any(not path.name.startswith("示例-") for path in register_files(folder)):
        return None
    patches = sample_patches(reference, seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SAMPLE_FILE
    path.unlink(missing_ok=True)
    projects = [p.project.project_code if p.project.plan_year >= 2025 else p.project.name for p in patches]
    fields = ["图斑编号", "项目名称", "村", "修复前地类", "申报面积", "备注"]
    field_data = [
        np.array([p.code for p in patches], dtype=object),
        np.array(projects, dtype=object),
        np.array([p.village for p in patches], dtype=object),
        np.array([p.land_type for p in patches], dtype=object),
        np.array([float(p.declared_area_mu) for p in patches]),
        np.array([SAMPLE_NOTE] * len(patches), dtype=object),
    ]
    # GeoPackage stamps its tables with the time of writing; stamped with the notice's month instead, the
    # same seed writes the same bytes, so a second `regreen sample` leaves the register's fingerprint (and
    # the next nightly's "nothing new") as it was.
    stamp = f"{reference.issue_month:%Y-%m-%d}T00:00:00.000Z"
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        write_layer(
            path,
            shapely.to_wkb(np.array([p.polygon for p in patches])),
            field_data,
            fields,
            layer=SAMPLE_LAYER,
            driver="GPKG",
            geometry_type="Polygon",
            crs=f"EPSG:{SAMPLE_EPSG}",
            dataset_options=GEOPACKAGE_OPTIONS,
        )
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    return path
