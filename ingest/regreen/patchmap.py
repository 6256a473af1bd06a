"""The patch map of the progress report: every patch as an inline SVG polygon, nothing fetched.

Patches are drawn in a local equirectangular projection (longitude scaled by the cosine of the map's
middle latitude), which over the district's 20 km is true to within a few metres, so the scale bar holds
anywhere on the map. Each patch is filled with its project's stage colour and carries a <title> (the
browser's hover tooltip) with its code, project, area and status; each project is labelled once, above
its patches. A scale bar and a north arrow sit in the corners; a legend lists the stages shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

import shapely

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180
WIDTH = 960
PADDING = 36
LEGEND_HEIGHT = 40
UNREPORTED = "未填报"
# Stage → fill, from early (cool) to accepted (deep green); a project no township reported on is grey.
STAGE_COLOURS = {
    "方案编制": "#c6dbef",
    "方案评审": "#9ecae1",
    "已下达": "#6baed6",
    "施工中": "#f59e42",
    "已完工": "#74c476",
    "已验收": "#238b45",
    UNREPORTED: "#bdbdbd",
}
STAGE_NAMES_EN = {
    "方案编制": "planning",
    "方案评审": "plan review",
    "已下达": "issued",
    "施工中": "under construction",
    "已完工": "completed",
    "已验收": "accepted",
    UNREPORTED: "not reported",
}
_NICE_LENGTHS_M = (100, 200, 500, 1000, 2000, 5000, 10000, 20000)


@dataclass(frozen=True)
class MapPatch:
    patch_code: str
    project_code: str
    project_name: str
    area_mu: Decimal | float | None
    stage: str | None  # the project's latest reported stage; None when never reported
    status: str | None  # the patch's own status (e.g. 已完成 2024-05) when submissions list it, else None
    geometry_wkb: bytes  # EPSG:4490, longitude first


@dataclass(frozen=True)
class _Frame:
    """Degrees to SVG pixels."""

    west: float
    north: float
    cos_lat: float
    scale: float  # pixels per metre

    def x(self, lon: float) -> float:
        return PADDING + (lon - self.west) * self.cos_lat * METRES_PER_DEGREE * self.scale

    def y(self, lat: float) -> float:
        return PADDING + (self.north - lat) * METRES_PER_DEGREE * self.scale


def _frame(geometries: Sequence[shapely.Geometry]) -> tuple[_Frame, float]:
    west, south, east, north = shapely.total_bounds(geometries)
    cos_lat = math.cos(math.radians((south + north) / 2))
    width_m = max((east - west) * cos_lat * METRES_PER_DEGREE, 1.0)
    height_m = max((north - south) * METRES_PER_DEGREE, 1.0)
    scale = (WIDTH - 2 * PADDING) / width_m
    return _Frame(west, north, cos_lat, scale), height_m * scale + 2 * PADDING + LEGEND_HEIGHT


def _path(geometry: shapely.Geometry, frame: _Frame) -> str:
    parts = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        if not isinstance(polygon, shapely.Polygon) or polygon.is_empty:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            points = " ".join(f"{frame.x(lon):.1f},{frame.y(lat):.1f}" for lon, lat in ring.coords[:-1])
            parts.append(f"M{points}Z")
    return "".join(parts)


def _tooltip(patch: MapPatch) -> str:
    area = "—" if patch.area_mu is None else f"{float(patch.area_mu):,.1f}"
    stage = patch.stage or UNREPORTED
    status = patch.status or f"项目{stage} / project {STAGE_NAMES_EN.get(stage, stage)}"
    return f"{patch.patch_code} · {patch.project_code} {patch.project_name} · {area} 亩 mu · {status}"


def _scale_bar(frame: _Frame, height: float) -> str:
    target_m = (WIDTH - 2 * PADDING) / frame.scale / 5
    length_m = max((n for n in _NICE_LENGTHS_M if n <= target_m), default=_NICE_LENGTHS_M[0])
    length_px = length_m * frame.scale
    # Bottom right, below the patches, so that it never covers one.
    x, y = WIDTH - PADDING - length_px, height - 10
    label = f"{length_m // 1000} km" if length_m >= 1000 else f"{length_m} m"
    return (
        f'<g class="scale-bar" data-metres="{length_m}" data-pixels="{length_px:.1f}">'
        f'<rect x="{x}" y="{y - 4:.1f}" width="{length_px:.1f}" height="4" fill="#333"/>'
        f'<rect x="{x + length_px / 2:.1f}" y="{y - 4:.1f}" width="{length_px / 2:.1f}" height="4" fill="#fff" '
        'stroke="#333" stroke-width="0.8"/>'
        f'<text x="{x}" y="{y - 8:.1f}" font-size="12">0</text>'
        f'<text x="{x + length_px:.1f}" y="{y - 8:.1f}" font-size="12" text-anchor="middle">{label}</text></g>'
    )


def _north_arrow() -> str:
    x, y = WIDTH - PADDING, PADDING + 4
    return (
        f'<g class="north-arrow" transform="translate({x},{y})" aria-label="北 / north">'
        '<path d="M0,-2 L9,26 L0,20 L-9,26 Z" fill="#333"/>'
        '<text x="0" y="42" font-size="13" text-anchor="middle" font-weight="bold">N 北</text></g>'
    )


def _legend(stages: Sequence[str], height: float) -> str:
    items, x = [], PADDING
    for stage in stages:
        label = f"{stage} {STAGE_NAMES_EN[stage]}"
        items.append(
            f'<rect x="{x}" y="{height - 20:.1f}" width="12" height="12" fill="{STAGE_COLOURS[stage]}" '
            'stroke="#555" stroke-width="0.5"/>'
            f'<text x="{x + 16}" y="{height - 10:.1f}" font-size="12">{escape(label)}</text>'
        )
        x += 24 + sum(13 if ord(c) > 0x2E80 else 7 for c in label)  # CJK glyphs are about twice as wide
    return f'<g class="legend">{"".join(items)}</g>'


def patch_map_svg(patches: Sequence[MapPatch]) -> str:
    """The map as one <svg> element; empty string when there is no patch to draw."""
    geometries = [shapely.from_wkb(p.geometry_wkb) for p in patches]
    drawn = [(p, g) for p, g in zip(patches, geometries, strict=True) if g is not None and not g.is_empty]
    if not drawn:
        return ""
    frame, height = _frame([g for _, g in drawn])
    shapes = []
    for patch, geometry in drawn:
        stage = patch.stage if patch.stage in STAGE_COLOURS else UNREPORTED
        shapes.append(
            f'<path class="patch" d="{_path(geometry, frame)}" fill="{STAGE_COLOURS[stage]}" '
            f'data-code="{escape(patch.patch_code)}" data-project="{escape(patch.project_code)}">'
            f"<title>{escape(_tooltip(patch))}</title></path>"
        )
    labels = []
    for code in sorted({p.project_code for p, _ in drawn}):
        members = shapely.union_all([g for p, g in drawn if p.project_code == code])
        west, _, east, north = members.bounds
        labels.append(
            f'<text class="project-label" x="{frame.x((west + east) / 2):.1f}" y="{frame.y(north) - 4:.1f}" '
            f'text-anchor="middle">{escape(code)}</text>'
        )
    stages = [
        s
        for s in STAGE_COLOURS
        if any((p.stage if p.stage in STAGE_COLOURS else UNREPORTED) == s for p, _ in drawn)
    ]
    return (
        f'<svg class="patch-map" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-label="图斑分布图，{len(drawn)} 个图斑 / map of {len(drawn)} patches" '
        'xmlns="http://www.w3.org/2000/svg" font-family="inherit">'
        f'<rect width="{WIDTH}" height="{height:.0f}" fill="#f7f9f6"/>'
        f'<g class="patches" stroke="#444" stroke-width="0.6">{"".join(shapes)}</g>'
        f'<g class="labels" font-size="13" fill="#222" paint-order="stroke" stroke="#fff" stroke-width="3">'
        f"{''.join(labels)}</g>"
        f"{_scale_bar(frame, height)}{_north_arrow()}{_legend(stages, height)}</svg>"
    )
