"""The plan reference: projects, townships and the names clerks use for them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from regreen.plan import PlanProject
from regreen.submissions.reference import (
    PlanTownshipError,
    build_reference,
    name_replacements,
    normalize_project_name,
)


def test_reference_holds_the_plan(reference):
    assert reference.issued_on == date(2023, 5, 5)
    assert reference.issue_month == date(2023, 5, 1)
    assert reference.townships == ("百崎乡", "东园镇", "洛阳镇", "张坂镇")
    assert len(reference.projects) == 14
    assert sum(p.patches_planned for p in reference.projects) == 182
    assert sum(p.area_planned_mu for p in reference.projects) == Decimal(3126)
    by_township = {t: [p.project_code for p in reference.township_projects(t)] for t in reference.townships}
    assert by_township == {
        "百崎乡": ["2023-01", "2024-01"],
        "东园镇": ["2023-02", "2025-03"],
        "洛阳镇": ["2023-03", "2024-02", "2024-03"],
        "张坂镇": ["2023-04", "2023-05", "2024-04", "2024-05", "2024-06", "2025-01", "2025-02"],
    }
    project = reference.project("2024-04")
    assert (project.name, project.patches_planned, project.area_planned_mu) == (
        "张坂镇前见、后见村废弃矿山生态治理项目",
        1,
        Decimal(526),
    )


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("张坂镇菘山村二分区废弃矿山生态治理项目", "张坂崧山村二分区"),
        ("张坂镇崧山村一分区废弃矿山生态治理项目", "张坂崧山村一分区"),
        ("百崎莲埭、下埭村废弃矿山生态治理项目", "百崎莲埭下埭村"),
        ("百崎回族乡莲埭村项目", "百崎莲埭村"),
        ("张坂玉田、玉园、玉塘村废弃矿山生态治理项目", "张坂玉田玉园玉塘村"),
        (" 东园镇 群青，锦丰村 ", "东园群青锦丰村"),
    ],
)
def test_normalize_project_name(name, normalized):
    assert normalize_project_name(name, name_replacements()) == normalized


@pytest.mark.parametrize(
    ("written", "township"),
    [("张坂镇", "张坂镇"), ("张坂", "张坂镇"), (" 百崎回族乡 ", "百崎乡"), ("百崎", "百崎乡"), ("Luoyang Town", "洛阳镇"),
     ("dongyuan", "东园镇"), ("西园镇", None), ("", None)],
)  # fmt: skip
def test_resolve_township(reference, written, township):
    assert reference.resolve_township(written) == township


@pytest.mark.parametrize(
    ("township", "written", "code"),
    [
        ("张坂镇", "张坂镇苏坑村废弃矿山生态治理项目", "2023-05"),  # exact
        ("张坂镇", "张坂镇崧山村二分区废弃矿山生态治理项目", "2025-01"),  # 崧 for the printed 菘
        ("张坂镇", "菘山村一分区", "2023-04"),  # the township left out
        ("百崎乡", "百崎乡莲埭、下埭村", "2024-01"),  # 乡 added
        ("百崎乡", "莲埭村", "2023-01"),
        (None, "洛阳镇上田、下曾村", "2024-03"),
        # copied from a PDF's text layer: U+2EC5 CJK RADICAL C-SIMPLIFIED SEE for 见 (NFKC keeps it),
        # U+2F6C KANGXI RADICAL EYE for 目, U+2F2D KANGXI RADICAL MOUNTAIN for 山
        ("张坂镇", "张坂镇前\u2ec5、后\u2ec5村废弃矿\u2f2d生态治理项\u2f6c", "2024-04"),
    ],
)
def test_resolve_project(reference, township, written, code):
    resolution = reference.resolve_project(township, written)
    assert resolution.problem is None and resolution.project is not None
    assert resolution.project.project_code == code


def test_a_project_of_another_township(reference):
    resolution = reference.resolve_project("东园镇", "苏坑村")
    assert (resolution.project, resolution.problem) == (None, "other_township")
    assert [p.project_code for p in resolution.candidates] == ["2023-05"]


def test_an_unknown_project_lists_the_closest(reference):
    resolution = reference.resolve_project("张坂镇", "崧山村")
    assert (resolution.project, resolution.problem) == (None, "unknown")
    assert [p.project_code for p in resolution.candidates][:2] == ["2023-04", "2025-01"]
    assert len(resolution.candidates) == 3


def test_a_name_matching_several_projects_is_ambiguous():
    planned = [
        PlanProject(2023, 1, "张坂镇苏坑村废弃矿山生态治理项目", 10, Decimal(100), "line 1"),
        PlanProject(2024, 1, "张坂苏坑村项目", 5, Decimal(50), "line 2"),
        PlanProject(2024, 2, "东园镇阳光村废弃矿山生态治理项目", 5, Decimal(50), "line 3"),
    ]
    reference = build_reference(date(2023, 5, 5), planned)
    assert [p.township_name for p in reference.projects] == ["张坂镇", "张坂镇", "东园镇"]
    resolution = reference.resolve_project("张坂镇", "苏坑村")
    assert resolution.problem == "ambiguous"
    assert [p.project_code for p in resolution.candidates] == ["2023-01", "2024-01"]
    exact = reference.resolve_project("张坂镇", "张坂苏坑村项目")
    assert exact.project is not None and exact.project.project_code == "2024-01"


def test_a_plan_project_without_a_township_is_refused():
    planned = [PlanProject(2023, 1, "西园镇某村废弃矿山生态治理项目", 1, Decimal(1), "line 1")]
    with pytest.raises(PlanTownshipError) as caught:
        build_reference(date(2023, 5, 5), planned)
    assert "西园镇某村废弃矿山生态治理项目" in caught.value.message_zh


def test_names_resolve_through_lookups_alike_in_a_plan_of_thousands():
    # 3,000 generated projects: each printed name, its short form and its form without the township
    # resolve to that project; a name shared by two townships lists both, in plan order.
    villages = ("阳光村", "苏坑村", "崧山村")
    planned = [
        PlanProject(
            2023 + seq // 1000,
            seq % 1000 + 1,
            f"{township}{villages[seq % 3]}第{seq}号项目",
            1,
            Decimal(1),
            "x",
        )
        for seq in range(3000)
        for township in ("张坂镇",)
    ] + [PlanProject(2040, 1, "东园镇阳光村第6号项目", 1, Decimal(1), "y")]
    reference = build_reference(date(2023, 5, 5), planned)
    for project in reference.projects[::97]:
        for written in (
            project.name,
            project.name.replace("张坂镇", "张坂"),
            project.name.removeprefix("张坂镇"),
        ):
            resolution = reference.resolve_project("张坂镇", written)
            assert resolution.project == project, written
    shared = reference.resolve_project(None, "阳光村第6号项目")
    assert shared.problem == "ambiguous"
    assert [p.project_code for p in shared.candidates] == ["2023-07", "2040-01"]
    assert reference.resolve_project("东园镇", "阳光村第6号项目").project.project_code == "2040-01"
    assert [p.project_code for p in reference.township_projects("东园镇")] == ["2040-01"]
    assert reference.project("2025-1000").name == "张坂镇崧山村第2999号项目"


def test_each_plan_project_belongs_to_the_township_its_longest_spelling_starts():
    # Every spelling of every township (short, full, curated aliases), written with a full-width digit
    # and a space as a notice may print them, starts a project name: each project belongs to the township
    # that spelling names, its name is folded once for the lookups, and it resolves to itself.
    spellings = {
        "百崎": "百崎乡",
        "百崎乡": "百崎乡",
        "百崎回族乡": "百崎乡",
        "东园": "东园镇",
        "东园镇": "东园镇",
        "洛阳": "洛阳镇",
        "洛阳镇": "洛阳镇",
        "张坂": "张坂镇",
        "张坂镇": "张坂镇",
    }
    planned = [
        PlanProject(2023, seq, f"{spelling} 某村第１{seq}号废弃矿山生态治理项目", 1, Decimal(1), "x")
        for seq, spelling in enumerate(spellings, 1)
    ]
    reference = build_reference(date(2023, 5, 5), planned)
    assert [p.township_name for p in reference.projects] == list(spellings.values())
    assert reference.folded_names == tuple(
        f"{s}某村第1{n}号废弃矿山生态治理项目" for n, s in enumerate(spellings, 1)
    )
    assert reference.projects[2].normalized_name == "百崎某村第13号"
    for project in reference.projects:
        assert reference.resolve_project(project.township_name, project.name).project == project
