"""The `regreen` command: a thin layer over the library.

Each subcommand parses its arguments, calls one library function and prints the result: data to
stdout, diagnostics to stderr. A RegreenError becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from regreen import __version__
from regreen.errors import EXIT_USAGE, RegreenError
from regreen.log import logger
from regreen.project import BUNDLED_NOTICE, DEFAULT_DATA_DIR, DataDir

Handler = Callable[[argparse.Namespace], int]


def _data_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"the data directory (default: {DEFAULT_DATA_DIR})",
    )


def _notice_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notice",
        type=Path,
        default=BUNDLED_NOTICE,
        metavar="PATH",
        help="the plan notice (.txt, PDF-extracted text or .docx; default: the bundled 泉台管办〔2023〕36号)",
    )


def _month(text: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"月份格式应为 YYYY-MM / month must be YYYY-MM, got {text!r}"
        ) from exc


# --- handlers -----------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
    from regreen.build import build

    summary = build(args.notice, DataDir(args.data_dir))
    print(summary.render())
    return summary.exit_code


def _plan_show(args: argparse.Namespace) -> int:
    from regreen.plan import parse_notice

    plan = parse_notice(args.path)
    if args.json:
        print(json.dumps(plan.to_json_dict(), ensure_ascii=False, indent=2))
    else:
        print(plan.render())
    return 0


def _template(args: argparse.Namespace) -> int:
    from regreen.submissions.reference import load_reference
    from regreen.submissions.template import write_template

    output = args.output or Path(f"{args.township}-{args.month:%Y-%m}-月度进展.xlsx")
    written = write_template(load_reference(args.notice), args.township, args.month, output)
    print(written)
    return 0


def _check(args: argparse.Namespace) -> int:
    from regreen.submissions.reference import load_reference
    from regreen.submissions.validate import check_files

    reports = check_files(args.files, load_reference(args.notice), today=date.today())
    if args.json:
        print(json.dumps([r.to_json_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(r.render() for r in reports))
    return 0 if all(r.status == "accepted" for r in reports) else 1


def _ingest(args: argparse.Namespace) -> int:
    from regreen.submissions.ingest import ingest_inbox
    from regreen.submissions.reference import load_reference

    summary = ingest_inbox(DataDir(args.data_dir).ensure(), load_reference(args.notice), today=date.today())
    print(summary.render())
    return 0


def _sample(args: argparse.Namespace) -> int:
    from regreen.submissions.reference import load_reference
    from regreen.submissions.sample import write_sample

    written = write_sample(
        DataDir(args.data_dir).ensure(), load_reference(args.notice), seed=args.seed, today=date.today()
    )
    for path in written:
        print(path)
    return 0


# --- the parser ----------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _command(
    subparsers: argparse._SubParsersAction, name: str, handler: Handler, summary: str, example: str
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=f"example:\n  {example}",
        formatter_class=_Formatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regreen",
        description="废弃矿山生态修复数据仓库 / Abandoned-mine restoration warehouse: "
        "load the plan notice and the townships' monthly progress into DuckDB, build it with dbt, check it.",
        epilog="example:\n  regreen sample && regreen ingest && regreen build",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"regreen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    build = _command(
        commands,
        "build",
        _build,
        "解析方案、载入、运行 dbt 与检查，成功后发布仓库 / parse the notice, load, run dbt build and the "
        "expectation suites, and publish the warehouse when no error-level check failed",
        "regreen build --data-dir warehouse/",
    )
    _notice_arg(build)
    _data_dir_arg(build)

    plan = _command(
        commands,
        "plan",
        lambda args: (plan.print_help(), EXIT_USAGE)[1],
        "方案文件相关命令 / commands on the plan notice",
        "regreen plan show notice.txt --json",
    )
    plan_commands = plan.add_subparsers(title="commands", metavar="COMMAND")
    show = _command(
        plan_commands,
        "show",
        _plan_show,
        "打印解析出的计划项目与申报合计 / print the projects and declared totals parsed from a notice",
        "regreen plan show ingest/regreen/data/quantai-guanban-2023-36.txt --json",
    )
    show.add_argument("path", type=Path, help="the notice: .txt, PDF-extracted text or .docx")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")

    template = _command(
        commands,
        "template",
        _template,
        "生成乡镇月度进展填报模板（.xlsx）/ write a township's monthly progress template (.xlsx)",
        "regreen template --township 张坂镇 --month 2024-03",
    )
    template.add_argument("--township", required=True, help="乡镇 / township, e.g. 张坂镇")
    template.add_argument("--month", required=True, type=_month, help="填报月份 / report month, YYYY-MM")
    template.add_argument(
        "--output", type=Path, help="where to write (default: <township>-<month>-月度进展.xlsx)"
    )
    _notice_arg(template)

    check = _command(
        commands,
        "check",
        _check,
        "校验填报文件但不载入 / validate submission files without loading them (exit 1 if any is rejected)",
        "regreen check 张坂镇-2024-03.xlsx --json",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".xlsx or .csv submissions")
    check.add_argument("--json", action="store_true", help="print one JSON report per file")
    _notice_arg(check)

    ingest = _command(
        commands,
        "ingest",
        _ingest,
        "接收收件箱中的填报文件：归档、校验、载入或隔离 / take every file in <data-dir>/inbox: archive, "
        "validate, load or quarantine",
        "regreen ingest --data-dir warehouse/",
    )
    _data_dir_arg(ingest)
    _notice_arg(ingest)

    sample = _command(
        commands,
        "sample",
        _sample,
        "生成示例填报文件（标注为示例数据）到收件箱 / write sample submissions (marked as sample data) "
        "into <data-dir>/inbox",
        "regreen sample --data-dir warehouse/ --seed 7",
    )
    _data_dir_arg(sample)
    sample.add_argument(
        "--seed", type=int, default=2023, help="random seed; the same seed writes the same files"
    )
    _notice_arg(sample)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="regreen: %(message)s",
        stream=sys.stderr,
    )
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except RegreenError as exc:
        logger.debug("error", exc_info=True)
        print(f"regreen: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
