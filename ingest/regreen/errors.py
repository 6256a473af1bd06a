"""Every error regreen reports to a user derives from RegreenError.

Each subclass keeps the inputs that caused it and builds one message, in Chinese then English, that
says what is wrong and how to fix it. The CLI prints that message on one line and exits with
`exit_code`; tracebacks are for bugs, not for bad input.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Literal

# Exit codes shared by every command (documented in the README).
EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_USAGE = 2
EXIT_WAREHOUSE_IN_USE = 73  # sysexits' EX_CANTCREAT: the published file cannot be replaced now
EXIT_DISK_FULL = 74  # sysexits' EX_IOERR: a file could not be written, its disk being full
EXIT_LOCKED = 75


class RegreenError(Exception):
    """Root of every error regreen reports to a user."""

    exit_code = EXIT_USAGE
    run_status = "error"  # how a nightly run that ends with it is recorded in meta.runs

    def __init__(self, message_zh: str, message_en: str) -> None:
        self.message_zh = message_zh
        self.message_en = message_en
        super().__init__(f"{message_zh} / {message_en}")


class NoticeNotFoundError(RegreenError):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"找不到方案文件 {path}，请检查路径",
            f"plan notice {path} does not exist; check the path",
        )


class NoticeUnreadableError(RegreenError):
    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"无法读取方案文件 {path}：{reason}；请提供 PDF（.pdf）、Word 文档（.docx）、网页（.html）或 UTF-8 文本（.txt）",
            f"cannot read plan notice {path}: {reason}; give a PDF (.pdf), Word (.docx), web page (.html) or UTF-8 "
            "text (.txt) file",
        )


class NoticeHasNoTextError(RegreenError):
    """A PDF with no text to read: `why` is "image" when its pages are pictures only (a scan; regreen does
    no OCR), "ocr" when a scan carries a text recogniser's text over its pictures (a "searchable PDF",
    whose names and figures are the recogniser's guesses: 百崎 read as 自崎, 584 as 5D84), and "unmapped"
    when its fonts map no glyph to a character (pdfminer reads "(cid:12)"), as a document printed to PDF
    through PostScript comes out: the glyphs are drawn, but which characters they are is lost."""

    def __init__(self, path: Path, why: Literal["image", "ocr", "unmapped"] = "image") -> None:
        self.path = path
        self.why = why
        zh, en = _NO_TEXT[why]
        super().__init__(f"PDF 文件 {path} {zh}", f"{path}: {en}")


_NO_TEXT = {
    "image": (
        "没有文字层（可能是扫描件），不支持文字识别（OCR）；请提供原始 PDF、Word 文档或文本",
        "this PDF has no text: OCR is not supported (it looks scanned); give the original PDF, the Word "
        "file or the text",
    ),
    "ocr": (
        "是扫描件，其文字是识别（OCR）所得，项目名称与数字不可靠，不予读取；请提供原始 PDF、Word 文档或文本",
        "this PDF is a scan whose text was recognised by OCR: its names and figures are not trusted, and "
        "it is not read; give the original PDF, the Word file or the text",
    ),
    "unmapped": (
        "的字体没有字符映射，读不出文字（常见于经“打印为 PDF”或 PostScript 转换的文件）；请提供用 Word、WPS "
        "“另存为 PDF”导出的文件、Word 文档或文本",
        "this PDF's fonts do not say which characters their glyphs are, so its text cannot be read (as "
        "when a document is printed to PDF through PostScript); give a PDF saved from Word or WPS ('Save "
        "as PDF'), the Word file or the text",
    ),
}


class NoPlanTableError(RegreenError):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"方案文件 {path} 中没有找到年度计划表（含“序号、项目名称、涉及图斑、面积”表头）",
            f"plan notice {path} has no yearly plan table (a header with 序号, 项目名称, 涉及图斑, 面积)",
        )


class PlanTableMismatchError(RegreenError):
    """A yearly table's 合计 row disagrees with its rows, or its rows are not numbered 1..n."""

    def __init__(
        self, path: Path, plan_year: int, table: str, measure: str, declared: str, counted: str
    ) -> None:
        self.path = path
        self.plan_year = plan_year
        self.table = table
        self.measure = measure
        self.declared = declared
        self.counted = counted
        if measure == "序号":
            found_zh = f"序号应为 {declared}，实际为 {counted}"
            found_en = f"its rows should be numbered {declared} but are {counted}"
        else:
            found_zh = f"{measure}不一致：合计行为 {declared}，各行相加为 {counted}"
            found_en = f"its 合计 row says {measure} {declared}, its rows add up to {counted}"
        super().__init__(
            f"{path}：{plan_year} 年度计划表（{table}）{found_zh}；请核对是否漏行或合计有误，本次未生成新数据",
            f"{path}: in the {plan_year} plan table ({table}) {found_en}; "
            "check for a lost row or a wrong total. Nothing was built",
        )


class ChecksFailedError(RegreenError):
    """At least one error-level check failed; the last good warehouse stays in place."""

    exit_code = EXIT_CHECKS_FAILED

    def __init__(self, failed: list[str]) -> None:
        self.failed = failed
        listed = "; ".join(failed[:5]) + ("; …" if len(failed) > 5 else "")
        super().__init__(
            f"{len(failed)} 项错误级检查未通过，未发布新仓库（上次成功的仓库保留）：{listed}",
            f"{len(failed)} error-level check(s) failed, nothing was published (the last good warehouse stays): "
            f"{listed}",
        )


class DbtBuildError(RegreenError):
    """dbt itself failed (a model did not build, or a dbt test at error severity failed)."""

    exit_code = EXIT_CHECKS_FAILED

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        listed = "; ".join(failures[:5]) + ("; …" if len(failures) > 5 else "")
        super().__init__(
            f"dbt 构建失败，未发布新仓库：{listed}",
            f"dbt build failed, nothing was published: {listed}",
        )


class DataDirError(RegreenError):
    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"数据目录 {path} 不可用：{reason}",
            f"data directory {path} cannot be used: {reason}",
        )


class ConfigError(RegreenError):
    """regreen.toml cannot be read, or one of its keys is unknown or has a value of the wrong kind."""

    def __init__(self, path: Path, key: str, value: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.value = value
        self.problem = problem
        where = "" if key == "-" else f" {key} = {value}"
        super().__init__(
            f"配置文件 {path}{where}：{problem.split(' / ')[0]}；请按 docs/operations.md 修改",
            f"configuration file {path}{where}: {problem.split(' / ')[-1]}; see docs/operations.md",
        )


class WarehouseInUseError(RegreenError):
    """Another process holds the published warehouse open read-write: it cannot be replaced now.

    The run built and checked a warehouse all the same; it is kept at `kept` and the next run publishes
    its own. `holder` is what DuckDB says about the other process (program and pid), when it says it.
    """

    exit_code = EXIT_WAREHOUSE_IN_USE
    run_status = "warehouse_in_use"

    def __init__(self, warehouse: Path, holder: str | None, kept: Path) -> None:
        self.warehouse = warehouse
        self.holder = holder
        self.kept = kept
        who_zh = f"（{holder}）" if holder else ""
        who_en = f" ({holder})" if holder else ""
        super().__init__(
            f"另一个程序以读写方式打开了已发布的仓库 {warehouse}{who_zh}，无法发布；本次构建已保存在 {kept}，"
            "请关闭该连接，或改用只读方式连接（DBeaver：驱动属性 duckdb.read_only=true；"
            f"Python：duckdb.connect(path, read_only=True)），下次夜间任务会正常发布",
            f"another program holds the published warehouse {warehouse} open read-write{who_en}, so it "
            f"cannot be replaced; this run's build is kept at {kept}. Close that connection or open it "
            "read-only (DBeaver: driver property duckdb.read_only=true; Python: "
            "duckdb.connect(path, read_only=True)); the next nightly publishes as usual",
        )


class MemoryLimitError(RegreenError):
    """DuckDB needed more memory at once than `[storage] memory_limit` allows, even spilling to disk."""

    def __init__(self, memory_limit: str, reason: str) -> None:
        self.memory_limit = memory_limit
        self.reason = reason
        super().__init__(
            f"DuckDB 在内存上限 {memory_limit}（regreen.toml 的 [storage] memory_limit）内无法完成：{reason}；"
            "请调高该上限（见 docs/operations.md）",
            f"DuckDB could not finish within its memory limit {memory_limit} ([storage] memory_limit of "
            f"regreen.toml): {reason}; raise the limit (see docs/operations.md)",
        )


# How a full disk reaches us: an OSError from Python, or the same words in DuckDB's errors and in what
# the dbt child printed before it died.
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_WORDS = ("No space left on device", "Disk quota exceeded")


class DiskFullError(RegreenError):
    """A file could not be written: the disk holding the data directory, or the quota on it, is full."""

    exit_code = EXIT_DISK_FULL

    def __init__(self, folder: Path, free_bytes: int | None) -> None:
        self.folder = folder
        self.free_bytes = free_bytes
        free = "?" if free_bytes is None else f"{free_bytes / 2**20:,.1f} MB"
        super().__init__(
            f"磁盘空间不足（{folder} 所在磁盘剩余 {free}），未能写完文件；未完成的运行不发布，已发布的仓库不变。"
            "请清理空间（如 history/ 中的旧版本）后重新运行",
            f"the disk of {folder} is full ({free} free) and a file could not be written; a run that did "
            "not finish publishes nothing and the published warehouse is unchanged. Free some space (old "
            "copies in history/, say) and run again",
        )


def disk_full(exc: BaseException, folder: Path) -> DiskFullError | None:
    """The DiskFullError for `folder` if `exc`, or an exception it was raised from or while handling, is
    the disk being full; None otherwise."""
    seen: BaseException | None = exc
    while seen is not None:
        if (isinstance(seen, OSError) and seen.errno in _NO_SPACE_ERRNOS) or any(
            words in str(seen) for words in _NO_SPACE_WORDS
        ):
            try:
                free: int | None = shutil.disk_usage(folder).free
            except OSError:
                free = None
            return DiskFullError(folder, free)
        seen = seen.__cause__ or seen.__context__
    return None
