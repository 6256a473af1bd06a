"""The `regreen` command: a thin layer over the library.

Each subcommand parses its arguments, calls one library function and prints the result: data to
stdout, diagnostics to stderr. A RegreenError becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from regreen import __version__
from regreen.errors import EXIT_USAGE, RegreenError, disk_full
from regreen.log import logger
from regreen.project import BUNDLED_NOTICE, DEFAULT_DATA_DIR, PRIVATE_UMASK, DataDir

if TYPE_CHECKING:
    from regreen.config import Config
    from regreen.nightly import NightlyRun

Handler = Callable[[argparse.Namespace], int]


def _config(args: argparse.Namespace) -> Config:
    from regreen.config import load_config

    return load_config(args.data_dir, args.config)


def _today(config: Config) -> date:
    """Today where the office is (`[general] timezone`), not where the server's clock is set."""
    return datetime.now(config.zone).date()


def _data_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"the data directory (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="the configuration file (default: <data-dir>/regreen.toml if it exists; see `regreen config show`)",
    )


def _notice_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notice",
        type=Path,
        default=BUNDLED_NOTICE,
        metavar="PATH",
        help="the plan notice: the published .pdf (its tables are read directly, no OCR), a .docx, the web "
        "page saved from the site (.html, .mhtml), or text (.txt; default: the bundled 泉台管办〔2023〕36号)",
    )


def _month(text: str) -> date:
    """A month as `regreen check` reads a 填报月份 cell: 2024-03, 2024/3, 2024年3月, 202403 …"""
    from regreen.submissions.validate import parse_month

    month = parse_month(text)
    if month is None:
        raise argparse.ArgumentTypeError(
            f"无法识别的月份 {text!r}，请写成 2024-03、2024/3 或 2024年3月 / "
            f"not a month: {text!r}; write it like 2024-03, 2024/3 or 2024年3月"
        )
    return month


# --- handlers -----------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
    run = _run_nightly(args, ingest=False)
    print(run.render())
    return run.exit_code


def _run_nightly(args: argparse.Namespace, ingest: bool) -> NightlyRun:
    """`regreen nightly` (`ingest`) or `regreen build`, with the build's dbt child started before the
    nightly's imports (~1 s) and its notice's parse, so that dbt's own import and parse overlap them
    (regreen.dbt.start_early); the child is ended when the run is over."""
    from regreen.dbt import start_early

    config = _config(args)
    data_dir = DataDir(args.data_dir)
    early = start_early(data_dir, args.notice, config)
    try:
        from regreen.nightly import fault_pause_point, nightly

        return nightly(
            args.notice,
            data_dir,
            today=_today(config),
            config=config,
            keep=args.keep if ingest else None,
            pause_at=fault_pause_point(os.environ) if ingest else None,
            ingest=ingest,
            full=args.full,
            dbt=early,
        )
    finally:
        if early is not None:
            early.close()


def _plan_show(args: argparse.Namespace) -> int:
    from regreen.plan import parse_notice

    plan = parse_notice(args.path)
    if args.json:
        print(json.dumps(plan.to_json_dict(), ensure_ascii=False, indent=2))
    else:
        print(plan.render())
    return 0


def _template(args: argparse.Namespace) -> int:
    from regreen.submissions.history import load_history
    from regreen.submissions.reference import load_reference
    from regreen.submissions.template import write_template

    config = _config(args)
    reference = load_reference(args.notice)
    period = reference.due_period(config.get("submissions", "first_due_month"), _today(config))
    history = load_history(DataDir(args.data_dir).warehouse)
    output = args.output or Path(f"{args.township}-{args.month:%Y-%m}-月度进展.xlsx")
    print(write_template(reference, args.township, args.month, output, period, history))
    return 0


def _check(args: argparse.Namespace) -> int:
    from regreen.submissions.history import load_history
    from regreen.submissions.reader import ReadLimits
    from regreen.submissions.received import check_files
    from regreen.submissions.reference import load_reference
    from regreen.submissions.validate import Judge

    config = _config(args)
    warehouse = DataDir(args.data_dir).warehouse
    judge = Judge(
        load_reference(args.notice),
        _today(config),
        load_history(warehouse),
        config.get("submissions", "area_over_plan_tolerance"),
        ReadLimits.from_config(config),
        config.get("submissions", "max_issues_per_file"),
    )
    if judge.judged_alone:
        print(
            f"regreen: 没有已发布的仓库 {warehouse}，只按文件本身校验（不核对已验收项目、上月数字与重报） / "
            f"no published warehouse at {warehouse}: each file is judged alone (no acceptances, previous "
            "months or restatements to check against)",
            file=sys.stderr,
        )
    reports = check_files(
        judge, warehouse, args.files, lambda: datetime.now(config.zone).replace(tzinfo=None)
    )
    if args.json:
        print(json.dumps([r.to_json_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(r.render() for r in reports))
    return 0 if all(r.status == "accepted" for r in reports) else 1


def _ingest(args: argparse.Namespace) -> int:
    from regreen.submissions.ingest import IngestSettings, ingest_inbox
    from regreen.submissions.reference import load_reference

    config = _config(args)
    settings = IngestSettings.from_config(config)
    data_dir = DataDir(args.data_dir).ensure()
    summary = ingest_inbox(data_dir, load_reference(args.notice), _today(config), settings)
    print(summary.render())
    return 0


def _sample(args: argparse.Namespace) -> int:
    from regreen.patches.register import patches_dir
    from regreen.patches.sample import write_sample_layer
    from regreen.submissions.reference import load_reference
    from regreen.submissions.sample import write_sample

    data_dir = DataDir(args.data_dir).ensure()
    reference = load_reference(args.notice)
    written = write_sample(data_dir, reference, seed=args.seed, today=_today(_config(args)))
    logger.info("sample files: %s", ", ".join(path.name for path in written))
    print(
        f"已写入 {len(written)} 个示例文件到 {data_dir.inbox} / wrote {len(written)} sample files to {data_dir.inbox}"
    )
    layer = write_sample_layer(patches_dir(data_dir), reference, seed=args.seed)
    if layer is None:
        print(
            f"{patches_dir(data_dir)} 已有图斑图层，未写入示例图层 / holds a patch layer already: no sample layer written"
        )
    else:
        print(f"已写入示例图斑图层 / wrote the sample patch layer {layer}")
    return 0


def _patches_load(args: argparse.Namespace) -> int:
    from regreen.clock import new_run_id
    from regreen.nightly import hold_lock, lock_path
    from regreen.patches.register import install_layer, patches_dir
    from regreen.submissions.reference import load_reference

    data_dir = DataDir(args.data_dir).ensure()
    # Under the nightly's lock: a build reads the register twice (its fingerprint, then its layers), and a
    # swap between the two would publish one layer's patches under the other's fingerprint.
    with hold_lock(lock_path(data_dir), new_run_id()) as lock:
        lock.note_stage("patches load")
        layer = install_layer(args.file, data_dir, load_reference(args.notice))
    print(
        f"已载入图斑图层 {args.file}（{layer.crs_name}）：{len(layer.patches)} 个图斑，{layer.area_mu:,.1f} 亩，"
        f"下次构建生效 / loaded patch layer {args.file} ({layer.crs_name}): {len(layer.patches)} patches, "
        f"{layer.area_mu:,.1f} mu, into {patches_dir(data_dir)}; the next nightly or build uses it"
    )
    return 0


def _config_show(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.json:
        rows = [{"key": k, "value": v, "source": src, "meaning": doc} for k, v, src, doc in config.rows()]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(config.render_toml(), end="")
    return 0


def _report(args: argparse.Namespace) -> int:
    from regreen.nightly import latest_failure
    from regreen.report import report_dir, write_report

    data_dir = DataDir(args.data_dir)
    config = _config(args)
    rows, limit = config.get("report", "project_rows"), config.get("storage", "memory_limit")
    failed = latest_failure(data_dir)
    print(write_report(data_dir.warehouse, report_dir(data_dir), config.zone, failed, rows, limit))
    return 0


def _docs(args: argparse.Namespace) -> int:
    from regreen.report import write_docs

    print(write_docs(DataDir(args.data_dir)))
    return 0


def _nightly(args: argparse.Namespace) -> int:
    run = _run_nightly(args, ingest=True)
    print(json.dumps(run.record.to_json_dict(), ensure_ascii=False) if args.json else run.render())
    return run.exit_code


def _purge(args: argparse.Namespace) -> int:
    from regreen.submissions.purge import purge
    from regreen.submissions.reader import ReadLimits

    config = _config(args)
    days = args.older_than if args.older_than is not None else config.get("history", "archive_retention_days")
    summary = purge(DataDir(args.data_dir).ensure(), days, ReadLimits.from_config(config))
    print(summary.render())
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from regreen.nightly import kept_warehouses, rollback

    config = _config(args)
    data_dir = DataDir(args.data_dir)
    if args.list:
        for kept in kept_warehouses(data_dir):
            print(kept.render(config.zone))
        return 0
    record = rollback(data_dir, to=args.to, config=config, keep=args.keep)
    print(
        f"已回滚 / rolled back: {data_dir.warehouse} 现为运行 / now holds run {record.restored_run_id} "
        f"(rollback {record.run_id})"
    )
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from regreen.nightly import schedule_text, venv_regreen

    zone = _config(args).zone
    config = args.config.resolve() if args.config else None
    text = schedule_text(
        venv_regreen(), args.data_dir.resolve(), args.notice.resolve(), args.at, zone, config
    )
    print(text, end="")
    return 0


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"时间格式应为 HH:MM / time must be HH:MM, got {text!r}") from exc


def _keep_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="distinct published warehouses kept in <data-dir>/history/ for rollback "
        "(default: [history] keep in regreen.toml, 3)",
    )


def _full_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full",
        action="store_true",
        help="rebuild everything and run every check, even when only new submissions arrived "
        "(by default only what they touch is rebuilt on a copy of the published warehouse)",
    )


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


def _group(
    subparsers: argparse._SubParsersAction, name: str, summary: str, example: str
) -> argparse._SubParsersAction:
    """A command that only holds subcommands (`regreen plan show`); alone it prints its help, exit 2."""
    parser = _command(subparsers, name, lambda args: (parser.print_help(), EXIT_USAGE)[1], summary, example)
    return parser.add_subparsers(title="commands", metavar="COMMAND")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regreen",
        description="废弃矿山生态修复数据仓库 / Abandoned-mine restoration warehouse: "
        "load the plan notice and the townships' monthly progress into DuckDB, build it with dbt, check it.",
        epilog="example:\n  regreen sample && regreen nightly && regreen report",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"regreen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    build = _command(
        commands,
        "build",
        _build,
        "由方案与已接收的填报重建仓库（不接收收件箱），检查全部通过才发布 / rebuild the warehouse from the "
        "notice and the submissions already ingested (the inbox is left alone): load, dbt build, every "
        "expectation suite, and publish, under the nightly's lock, only when no error-level check failed",
        "regreen build --data-dir warehouse/",
    )
    _notice_arg(build)
    _data_dir_arg(build)
    _full_arg(build)

    plan_commands = _group(
        commands,
        "plan",
        "方案文件相关命令 / commands on the plan notice",
        "regreen plan show notice.pdf --json",
    )
    show = _command(
        plan_commands,
        "show",
        _plan_show,
        "打印解析出的计划项目与申报合计 / print the projects and declared totals parsed from a notice. "
        "Reads the notice as published: a PDF with a text layer (its ruled tables, and tables drawn without "
        "grid lines, are read directly; a scanned PDF is refused, there is no OCR), a Word .docx, or text "
        "(the bundled tab-separated .txt, or text already extracted from a PDF)",
        "regreen plan show 泉台管办〔2023〕36号.pdf --json",
    )
    show.add_argument(
        "path", type=Path, help="the notice: .pdf, .docx, or .txt (tab-separated or extracted from a PDF)"
    )
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")

    template = _command(
        commands,
        "template",
        _template,
        "生成乡镇月度进展填报模板（.xlsx）/ write a township's monthly progress template (.xlsx)",
        "regreen template --township 张坂镇 --month 2024-03",
    )
    template.add_argument("--township", required=True, help="乡镇 / township, e.g. 张坂镇")
    template.add_argument(
        "--month",
        required=True,
        type=_month,
        help="填报月份 / report month: 2024-03, 2024/3 or 2024年3月, as `check` reads it; from the first "
        "month due ([submissions] first_due_month) to the current month",
    )
    template.add_argument(
        "--output", type=Path, help="where to write (default: <township>-<month>-月度进展.xlsx)"
    )
    _data_dir_arg(template)
    _notice_arg(template)

    check = _command(
        commands,
        "check",
        _check,
        "校验填报文件但不载入，与 ingest 同一规则、同一历史 / validate submission files without loading "
        "them, by the same rules and against the same history as `ingest` (the published warehouse's "
        "acceptances, previous months and months already received; without one, each file alone). "
        "A file whose bytes were already received (or given earlier on the line) is named a duplicate, "
        "with when and as what it came, not judged again. Exit 1 if any is rejected (a duplicate: if "
        "its bytes were)",
        "regreen check 张坂镇-2024-03.xlsx --data-dir /srv/regreen --json",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".xlsx or .csv submissions")
    check.add_argument("--json", action="store_true", help="print one JSON report per file")
    _data_dir_arg(check)  # the published warehouse (the history) and regreen.toml ([limits] bound the read)
    _notice_arg(check)

    ingest = _command(
        commands,
        "ingest",
        _ingest,
        "接收收件箱中的填报文件：归档、校验、载入或隔离 / take every file in <data-dir>/inbox that has not "
        "changed for [submissions] settle_seconds: archive, validate, load or quarantine. Symlinks, pipes and "
        "devices are never followed nor read (left in the inbox with a reason); a file beyond the [limits] "
        "is rejected unread",
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

    nightly = _command(
        commands,
        "nightly",
        _nightly,
        "夜间任务：加锁、接收收件箱、构建、检查，全部通过才原子发布仓库与导出 / the nightly job: take the lock, "
        "ingest the inbox, build (only what new submissions touch, on a copy of the published warehouse, "
        "unless --full or the notice, models or code changed), check, and only if no error-level check "
        "failed publish the warehouse and its exports atomically. Exit codes: 0 published, 1 checks "
        "failed (nothing published), 2 usage or configuration error, 73 built but not published because "
        "another program holds the published warehouse open read-write, 75 another run holds the lock",
        "regreen nightly --data-dir /srv/regreen",
    )
    _data_dir_arg(nightly)
    _notice_arg(nightly)
    _keep_arg(nightly)
    _full_arg(nightly)
    nightly.add_argument("--json", action="store_true", help="print the run record as one JSON line")

    purge = _command(
        commands,
        "purge",
        _purge,
        "清除超过保存期限的已收文件中的个人信息 / remove personal data (reporter names, phones, ID-card "
        "numbers) from the files in <data-dir>/archive/ and quarantine/ received longer ago than "
        "[history] archive_retention_days, and from the landing zone's rows of those files: each file is "
        "replaced by a redacted copy in the same format; its original sha256 and size are recorded in "
        "logs/purged.jsonl, and receipts and figures stay. Run it as the nightly's user, e.g. monthly",
        "regreen purge --data-dir /srv/regreen --older-than 365",
    )
    _data_dir_arg(purge)
    purge.add_argument(
        "--older-than",
        type=int,
        metavar="DAYS",
        help="retention in days (default: [history] archive_retention_days of regreen.toml, 365)",
    )

    rollback = _command(
        commands,
        "rollback",
        _rollback,
        "原子地恢复历史中保存的上一版仓库 / publish an earlier warehouse kept in <data-dir>/history/ again, "
        "atomically (default: the newest one that is not published now)",
        "regreen rollback --data-dir /srv/regreen --to 20260301T020000Z-a1b2c3",
    )
    _data_dir_arg(rollback)
    rollback.add_argument("--to", metavar="RUN_ID", help="the run whose warehouse to restore (see --list)")
    rollback.add_argument(
        "--list",
        action="store_true",
        help="list the kept warehouses (run id, local time, status, files, rows, checks, which is "
        "published) and exit",
    )
    _keep_arg(rollback)

    schedule = _command(
        commands,
        "schedule",
        _schedule,
        "打印夜间任务的 crontab 行与 systemd 服务/定时器 / print a crontab line and a systemd service and "
        "timer that run `regreen nightly` every night (nothing is installed)",
        "regreen schedule --print --data-dir /srv/regreen --at 02:30",
    )
    schedule.add_argument(
        "--print", action="store_true", required=True, help="print the crontab line and systemd units"
    )
    schedule.add_argument(
        "--at",
        type=_clock,
        default=time(2, 30),
        metavar="HH:MM",
        help="time of day in [general] timezone of regreen.toml (default: 02:30 Asia/Shanghai)",
    )
    _data_dir_arg(schedule)
    _notice_arg(schedule)

    patches_commands = _group(
        commands,
        "patches",
        "图斑图层相关命令 / commands on the patch register (the plan's map patches as polygons)",
        "regreen patches load 图斑.gpkg --data-dir /srv/regreen",
    )
    patches_load = _command(
        patches_commands,
        "load",
        _patches_load,
        "校验图斑图层并作为图斑登记册（替换 <data-dir>/patches/ 的内容），下次构建载入 / check a patch layer "
        "(GeoPackage, Shapefile .shp or .zip, ArcGIS file geodatabase .gdb or .zip, GeoJSON, KML/KMZ; CGCS2000 "
        "EPSG:4490, a CGCS2000 Gauss-Krüger zone or WGS84) and make it the patch register in "
        "<data-dir>/patches/, which the next nightly or build loads. "
        "A layer with no CRS, another CRS, a polygon outside the district, a missing column or an unknown "
        "project is refused (exit 2) and nothing changes",
        "regreen patches load 2023-2025图斑.gpkg --data-dir /srv/regreen",
    )
    patches_load.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="the layer: .gpkg, .shp, .gdb (a folder), .zip (of a .shp set or a .gdb) or .geojson",
    )
    _data_dir_arg(patches_load)
    _notice_arg(patches_load)

    config_commands = _group(
        commands,
        "config",
        "配置文件相关命令 / commands on the configuration file (regreen.toml)",
        "regreen config show --data-dir /srv/regreen",
    )
    config_show = _command(
        config_commands,
        "show",
        _config_show,
        "打印生效的配置及每项的来源 / print the effective settings, each with where its value came from "
        "(the default or the file)",
        "regreen config show --data-dir /srv/regreen --json",
    )
    _data_dir_arg(config_show)
    config_show.add_argument("--json", action="store_true", help="print JSON instead of TOML")

    report = _command(
        commands,
        "report",
        _report,
        "由已发布的仓库生成进展报告（离线可看的单页 HTML）/ write the progress report and the check results "
        "page from the published warehouse to <data-dir>/report/ (self-contained HTML, nothing fetched)",
        "regreen report --data-dir warehouse/",
    )
    _data_dir_arg(report)

    docs = _command(
        commands,
        "docs",
        _docs,
        "生成数据字典（dbt docs，单页静态 HTML）/ write the data dictionary of the published warehouse "
        "(dbt docs as one static page) to <data-dir>/docs/index.html",
        "regreen docs --data-dir warehouse/",
    )
    _data_dir_arg(docs)

    return parser


def _configure_logging(verbose: bool) -> None:
    """Our logger to stderr; libraries' loggers (dbt, GX) stay quiet unless they fail."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("regreen: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    logging.getLogger().setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    _configure_logging(verbose=args.verbose)
    # Whatever regreen writes is its user's alone unless it is published (project.make_readable): under
    # cron's umask (022) the landing zone and its write-ahead log, with reporters' names and phones,
    # were readable by every user of the server.
    os.umask(PRIVATE_UMASK)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except RegreenError as exc:
        logger.debug("error", exc_info=True)
        print(f"regreen: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader of our stdout went away (`regreen check … | head`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        full = disk_full(exc, getattr(args, "data_dir", None) or Path.cwd())
        if full is None:
            raise  # a bug: its traceback
        logger.debug("error", exc_info=True)
        print(f"regreen: {full}", file=sys.stderr)
        return full.exit_code
    finally:
        atexit.register(_skip_final_collections)


def _skip_final_collections() -> None:
    """The command is done: let the interpreter exit without its final garbage collections.

    They walk every object the command left (Great Expectations' and pandas' after a nightly) to free
    memory the process gives back by ending anyway: 0.7 s of a nightly's wall time. Nothing here needs
    a collection to finish its work: the command closed its DuckDB connections (every one is opened in
    a `with` block) and waited for its threads and its dbt child; reference counting still frees what
    is not in a cycle, and the later exit handlers (logging's flush and close) still run. Registered
    last, it runs first."""
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
