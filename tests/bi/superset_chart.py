"""Run by Superset's own venv (`make test-bi`): register a published warehouse in Superset through
duckdb-engine, read-only, as a dataset, and run a chart's query through Superset's chart-data path.

    python superset_chart.py WAREHOUSE   (SUPERSET_CONFIG_PATH names a config with a throwaway metadata db)

Prints one JSON object: the Superset and DuckDB versions, the SQL Superset generated, and the rows.
"""

import json
import sys

from superset.app import create_app

CHART = {
    # "乡镇计划完成情况": each township's restored area against its plan, a bar chart's query.
    "columns": ["township_name"],
    "metrics": [
        {"expressionType": "SQL", "sqlExpression": "SUM(area_planned_mu)", "label": "area_planned_mu"},
        {"expressionType": "SQL", "sqlExpression": "SUM(area_done_mu)", "label": "area_done_mu"},
        {"expressionType": "SQL", "sqlExpression": "SUM(projects_accepted)", "label": "projects_accepted"},
    ],
    "orderby": [
        [{"expressionType": "SQL", "sqlExpression": "township_name", "label": "township_name"}, True]
    ],
    "row_limit": 100,
}


def main(warehouse: str) -> None:
    app = create_app()
    with app.app_context():
        import duckdb
        from superset import db
        from superset.commands.chart.data.get_data_command import ChartDataCommand
        from superset.common.query_context_factory import QueryContextFactory
        from superset.connectors.sqla.models import SqlaTable
        from superset.models.core import Database

        database = Database(
            database_name="regreen",
            sqlalchemy_uri=f"duckdb:///{warehouse}",
            # As docs/operations.md sets it up: read-only, so the nightly's rename is never blocked.
            extra=json.dumps({"engine_params": {"connect_args": {"read_only": True}}}),
        )
        db.session.add(database)
        db.session.flush()
        dataset = SqlaTable(table_name="plan_vs_actual_township", schema="marts", database=database)
        db.session.add(dataset)
        db.session.flush()
        dataset.fetch_metadata()
        db.session.commit()

        context = QueryContextFactory().create(
            datasource={"id": dataset.id, "type": "table"},
            queries=[CHART],
            form_data={"viz_type": "echarts_timeseries_bar", "datasource": f"{dataset.id}__table"},
            result_type="full",
            result_format="json",
        )
        payload = ChartDataCommand(context).run()
        [result] = payload["queries"]
        if result.get("error"):
            raise SystemExit(f"superset chart query failed: {result['error']}")
        print(
            json.dumps(
                {
                    "superset": app.config.get("VERSION_STRING"),
                    "duckdb": duckdb.__version__,
                    "columns": [c.column_name for c in dataset.columns],
                    "sql": result["query"],
                    "rows": result["data"],
                },
                ensure_ascii=False,
                default=str,
            )
        )


if __name__ == "__main__":
    main(sys.argv[1])
