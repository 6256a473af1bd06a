"""The report's patch map on its own: every patch drawn with its hover text, a true scale bar, escaping."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from regreen.patches.sample import SAMPLE_EPSG, sample_patches
from regreen.patchmap import STAGE_COLOURS, MapPatch, patch_map_svg
from regreen.submissions.reference import PlanReference

STAGES = ("施工中", "已验收", None, "方案编制")


@pytest.fixture(scope="module")
def patches(reference: PlanReference) -> list[MapPatch]:
    to_4490 = Transformer.from_crs(SAMPLE_EPSG, 4490, always_xy=True)

    def lon_lat(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_4490.transform(xy[:, 0], xy[:, 1]))

    return [
        MapPatch(
            p.code,
            p.project.project_code,
            p.project.name,
            p.declared_area_mu,
            STAGES[i % len(STAGES)],
            "已完成 2024-05" if i == 0 else None,
            shapely.to_wkb(shapely.transform(p.polygon, lon_lat)),
        )
        for i, p in enumerate(sample_patches(reference, 11))
    ]


def test_every_patch_is_drawn_in_its_stage_colour_with_its_hover_text(patches: list[MapPatch]) -> None:
    svg = patch_map_svg(patches)
    drawn = re.findall(
        r'<path class="patch" d="[^"]+" fill="([^"]+)" data-code="([^"]+)"[^>]*><title>([^<]+)</title>', svg
    )
    assert len(drawn) == 182
    assert [code for _, code, _ in drawn] == [p.patch_code for p in patches]
    for (fill, _, title), patch in zip(drawn, patches, strict=True):
        assert fill == STAGE_COLOURS[patch.stage or "未填报"]
        assert title.startswith(f"{patch.patch_code} · {patch.project_code} {patch.project_name} · ")
        assert f"{float(patch.area_mu):,.1f} 亩 mu" in title
    assert drawn[0][2].endswith("· 已完成 2024-05")
    assert drawn[2][2].endswith("· 项目未填报 / project not reported")
    assert len(re.findall(r'<text class="project-label"', svg)) == 14
    assert 'class="north-arrow"' in svg
    # The legend lists the stages shown, and only those.
    assert re.findall(
        r">([^<>\s]+) (?:planning|under construction|accepted|not reported|issued|completed)</text>", svg
    ) == [
        "方案编制",
        "施工中",
        "已验收",
        "未填报",
    ]


def test_the_scale_bar_measures_true_distances(patches: list[MapPatch]) -> None:
    svg = patch_map_svg(patches)
    metres, pixels = map(float, re.search(r'data-metres="(\d+)" data-pixels="([\d.]+)"', svg).groups())
    assert metres in (1000, 2000, 5000)
    first, last = patches[0], patches[-1]
    # The first vertex of each patch, on the map and on the ground (geodesic, CGCS2000's ellipsoid).
    points = [
        tuple(
            map(
                float,
                re.search(rf'data-code="{p.patch_code}"', svg)
                and re.search(
                    rf'<path class="patch" d="M([\d.]+),([\d.]+) [^"]*" fill="[^"]+" data-code="{p.patch_code}"',
                    svg,
                ).groups(),
            )
        )
        for p in (first, last)
    ]
    on_map = np.hypot(points[0][0] - points[1][0], points[0][1] - points[1][1]) * metres / pixels
    (lon1, lat1), (lon2, lat2) = (
        shapely.get_coordinates(shapely.from_wkb(p.geometry_wkb))[0] for p in (first, last)
    )
    on_ground = Geod(ellps="GRS80").inv(lon1, lat1, lon2, lat2)[2]
    assert on_map == pytest.approx(on_ground, rel=0.005)


def test_names_are_escaped_and_an_empty_register_draws_nothing(patches: list[MapPatch]) -> None:
    odd = MapPatch("<b>1</b>", "2023-01", "A & B", 1.0, "施工中", None, patches[0].geometry_wkb)
    svg = patch_map_svg([odd])
    assert "<b>" not in svg and "&lt;b&gt;1&lt;/b&gt;" in svg and "A &amp; B" in svg
    assert patch_map_svg([]) == ""
