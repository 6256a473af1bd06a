"""What the bundled notice 泉台管办〔2023〕36号 holds, for the tests of every form it is read from."""

from __future__ import annotations

import re
from dataclasses import astuple

from regreen.plan import Plan

PROJECTS = [
    (2023, 1, "百崎乡莲埭村废弃矿山生态治理项目", 13, 139),
    (2023, 2, "东园镇阳光、琅山村废弃矿山生态治理项目", 12, 80),
    (2023, 3, "洛阳镇陈坝、陈埭头村废弃矿山生态治理项目", 14, 144),
    (2023, 4, "张坂镇崧山村一分区废弃矿山生态治理项目", 12, 280),
    (2023, 5, "张坂镇苏坑村废弃矿山生态治理项目", 21, 350),
    (2024, 1, "百崎莲埭、下埭村废弃矿山生态治理项目", 9, 153),
    (2024, 2, "洛阳镇上曾、群山村废弃矿山生态治理项目", 20, 161),
    (2024, 3, "洛阳镇上田、下曾村废弃矿山生态治理项目", 9, 139),
    (2024, 4, "张坂镇前见、后见村废弃矿山生态治理项目", 1, 526),
    (2024, 5, "张坂镇后见、前头村废弃矿山生态治理项目", 2, 165),
    (2024, 6, "张坂镇塘园村废弃矿山生态治理项目", 12, 584),
    (2025, 1, "张坂镇菘山村二分区废弃矿山生态治理项目", 28, 266),
    (2025, 2, "张坂玉田、玉园、玉塘村废弃矿山生态治理项目", 19, 107),
    (2025, 3, "东园镇群青、锦丰村废弃矿山生态治理项目", 10, 32),
]

# (plan_year, source, township, measure, value), in the order the notice gives them.
DECLARED_TOTALS = [
    (None, "task", None, "task_area_mu", 3000),
    (None, "sentence", None, "projects", 14),
    (2023, "sentence", None, "township_count", 4),
    (2023, "sentence", None, "projects_per_township", 1),
    (2023, "sentence", None, "projects", 5),
    (2023, "sentence", None, "patches", 72),
    (2023, "sentence", None, "area_mu", 993),
    (2023, "total_row", None, "patches", 72),
    (2023, "total_row", None, "area_mu", 993),
    (2024, "sentence", "百崎乡", "township_projects", 1),
    (2024, "sentence", "洛阳镇", "township_projects", 2),
    (2024, "sentence", "张坂镇", "township_projects", 3),
    (2024, "sentence", None, "projects", 6),
    (2024, "sentence", None, "patches", 53),
    (2024, "sentence", None, "area_mu", 1728),
    (2024, "total_row", None, "patches", 53),
    (2024, "total_row", None, "area_mu", 1728),
    (2025, "sentence", "张坂镇", "township_projects", 2),
    (2025, "sentence", "东园镇", "township_projects", 1),
    (2025, "sentence", None, "projects", 3),
    (2025, "sentence", None, "patches", 57),
    (2025, "sentence", None, "area_mu", 405),
    (2025, "total_row", None, "patches", 57),
    (2025, "total_row", None, "area_mu", 405),
]


def project_rows(plan: Plan) -> list[tuple]:
    return [(p.plan_year, p.seq, p.name, p.patches, p.area_mu) for p in plan.projects]


def total_rows(plan: Plan) -> list[tuple]:
    return [(t.plan_year, t.source, t.township, t.measure, t.value) for t in plan.declared_totals]


def assert_same_notice(plan: Plan, bundled: Plan) -> None:
    """Every field but where it was found (source_ref, path, format, sha256)."""
    assert [astuple(p)[:-1] for p in plan.projects] == [astuple(p)[:-1] for p in bundled.projects]
    assert [astuple(t)[:-1] for t in plan.declared_totals] == [
        astuple(t)[:-1] for t in bundled.declared_totals
    ]
    for field in ("document_number", "title", "issued_on"):
        assert getattr(plan.document, field) == getattr(bundled.document, field)


def notice_blocks(text: str) -> list[str | list[list[str]]]:
    """The notice as paragraphs (str) and tables (rows of cells); a blank line inside a table is dropped."""
    blocks: list[str | list[list[str]]] = []
    for line in text.splitlines():
        if "\t" in line:
            if not blocks or isinstance(blocks[-1], str):
                blocks.append([])
            blocks[-1].append(line.split("\t"))
        elif line.strip():
            blocks.append(line)
    return blocks


def wrap(paragraph: str, width: int) -> list[str]:
    """Break a paragraph every `width` characters as a PDF line does, never inside a number."""
    lines = [""]
    for token in re.findall(r"[0-9０-９A-Za-z.]+|.", paragraph):
        if len(lines[-1]) + len(token) > width:
            lines.append("")
        lines[-1] += token
    return [line.strip() for line in lines]
