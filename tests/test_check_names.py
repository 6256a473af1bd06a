"""Check ids as dbt generates them, read as sentences against the relations a warehouse holds."""

from __future__ import annotations

import pytest

from regreen.check_names import check_sentence

COLUMNS = {
    "fct_project_month": {"stage", "stage_rank", "project_code", "report_month"},
    "fct_project_month_extra": {"rank"},
    "projects_completed_not_accepted": {"project_code", "months_waiting"},
    "dim_project": {"project_code"},
    "stg_plan__declared_totals": {"measure"},
    "projects_behind_schedule": {"shortfall_mu"},
}


@pytest.mark.parametrize(
    ("check_id", "sentence"),
    [
        (
            "not_null_fct_project_month_stage_rank",
            "fct_project_month.stage_rank 不为空 / fct_project_month.stage_rank is never empty",
        ),
        (
            "not_null_fct_project_month_stage",
            "fct_project_month.stage 不为空 / fct_project_month.stage is never empty",
        ),
        (
            "unique_dim_project_project_code",
            "dim_project.project_code 无重复值 / dim_project.project_code has no duplicate values",
        ),
        (
            "relationships_projects_completed_not_accepted_project_code__project_code__ref_dim_project_",
            "projects_completed_not_accepted.project_code 都能在 dim_project.project_code 中找到 / "
            "every projects_completed_not_accepted.project_code is found in dim_project.project_code",
        ),
        (
            "unique_combination_of_columns_fct_project_month_project_code__report_month",
            "fct_project_month 中 project_code, report_month 的组合不重复 / "
            "fct_project_month has one row per project_code, report_month",
        ),
        (
            "accepted_values_stg_plan__declared_totals_measure__projects__patches__task_area_mu",
            "stg_plan__declared_totals.measure 只取 projects, patches, task_area_mu / "
            "stg_plan__declared_totals.measure is one of projects, patches, task_area_mu",
        ),
        (
            "expression_is_true_projects_behind_schedule_shortfall_mu___0",
            "projects_behind_schedule.shortfall_mu 符合模型中定义的取值规则 / "
            "projects_behind_schedule.shortfall_mu keeps to the rule its model defines",
        ),
        (
            "test_fct_submission_versions__township_matches_the_plan",
            "fct_submission_versions：township matches the plan / fct_submission_versions: township matches the plan",
        ),
        # Not a relation the warehouse has, or a suite's own name: shown as it is.
        ("not_null_no_such_table_x", "not_null_no_such_table_x"),
        ("2023 年度四个乡镇各完成 1 个项目", "2023 年度四个乡镇各完成 1 个项目"),
    ],
)
def test_a_check_id_reads_as_a_sentence(check_id: str, sentence: str) -> None:
    assert check_sentence(check_id, COLUMNS) == sentence
