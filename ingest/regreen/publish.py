"""Publishing a sealed warehouse: history for rollback, the atomic rename, and the exports beside it.

The order of one publish, and why:

1. The new warehouse is complete, checkpointed and closed (no `.wal`) under `<data-dir>/work/`, and its
   exports are complete under `<data-dir>/export.tmp-<run>/`.
2. The warehouse being replaced gets a second name, `history/<its run>.duckdb` (a hard link: no copy, and
   `regreen.duckdb` never goes missing).
3. `os.replace` renames the new file over `regreen.duckdb`. This is the commit point: a reader opening the
   path from now on gets the new warehouse; a reader that opened it before keeps the old inode, whole.
4. `export.tmp-<run>/` and `export/` are exchanged in one `renameat2(RENAME_EXCHANGE)`, then the old
   export is removed. The exports follow the warehouse, never lead it: a crash between 3 and 4 leaves the
   previous run's exports (their `_run.json` says which run), which the next nightly repairs; exports of a
   run that was never published are never visible.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

import regreen.parquet_append as parquet_append
import regreen.patches.export as patches_export
from regreen.log import logger
from regreen.patches.export import (
    EXPORT_SQL as PATCHES_SQL,
)
from regreen.patches.export import (
    GEOPACKAGE,
    GEOPARQUET,
    GIS_FOLDER,
    LAYER_NAME,
    export_patches,
    has_patches,
)
from regreen.project import DataDir, fsync_path, make_readable

# First characters that make Excel, LibreOffice and WPS read a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = "=+-@\t\r"
EXPORT_MANIFEST = "_run.json"
UTF8_BOM = b"\xef\xbb\xbf"
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
_FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int); fcntl.FICLONE only from Python 3.12


def history_dir(data_dir: DataDir) -> Path:
    """The previous published warehouses, `<run>.duckdb`, kept for `regreen rollback`."""
    return data_dir.root / "history"


def export_dir(data_dir: DataDir) -> Path:
    """Every marts.* table of the published warehouse as Parquet (and CSV under csv/)."""
    return data_dir.root / "export"


def export_tmp_dir(data_dir: DataDir, run_id: str) -> Path:
    return data_dir.root / f"export.tmp-{run_id}"


def open_read_only(database: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the file at `database` now.

    Not `duckdb.connect(path)`: while any connection to that path is open in this process, DuckDB hands
    out the same database instance again, i.e. the file as it was before a rename. An in-memory
    connection that ATTACHes the path always opens what the path names now.
    """
    con = duckdb.connect()
    try:
        con.execute("attach ? as warehouse (read_only)", [str(database)])
        con.execute("use warehouse")
    except duckdb.Error:
        con.close()
        raise
    return con


_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


def warehouse_holder(database: Path) -> str | None:
    """None if `database` can be opened read-only now; else who holds it read-write ("" when DuckDB does
    not say): e.g. DBeaver, whose default connection is read-write and locks the file."""
    if not database.exists():
        return None
    try:
        open_read_only(database).close()
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        found = _HOLDER.search(str(exc))
        return f"{found.group(1)}, PID {found.group(2)}" if found else ""
    return None


def published_run_id(data_dir: DataDir) -> str | None:
    """The run that built the published warehouse (every build stamps raw.plan_documents), or None."""
    if not data_dir.warehouse.exists():
        return None
    with open_read_only(data_dir.warehouse) as con:
        return con.execute("select max(run_id) from raw.plan_documents").fetchone()[0]


def history_runs(data_dir: DataDir) -> list[str]:
    """Run ids kept in history/, oldest first (run ids start with their UTC build time)."""
    return sorted(path.stem for path in history_dir(data_dir).glob("*.duckdb"))


def copy_database(source: Path, target: Path) -> str:
    """Copy `source` into a new file `target` (a new inode: the published file is never written to) as
    cheaply as the filesystem allows; returns how: `reflink` (btrfs, XFS, bcachefs: the two files share
    their blocks until one is written, so the copy costs no time nor space whatever its size), else
    `copy_file_range` (the kernel copies, with no round trip through this process; NFS and some others do
    it on the server), else `copy`."""
    with source.open("rb") as src, target.open("wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
            return "reflink"
        except OSError:
            pass  # ext4 and tmpfs have no shared extents
        remaining = os.fstat(src.fileno()).st_size
        try:
            while remaining > 0 and (copied := os.copy_file_range(src.fileno(), dst.fileno(), remaining)):
                remaining -= copied
        except OSError:
            pass  # a filesystem or kernel without it (EXDEV, ENOSYS, EOPNOTSUPP): copied below
        else:
            if remaining == 0:
                return "copy_file_range"
    shutil.copyfile(source, target)
    return "copy"


# --- exports --------------------------------------------------------------------------------------


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _neutralised(column: str, data_type: str, table: str) -> str:
    """A select expression for `table`'s `column` that defuses a text cell Excel would run as a formula,
    by prefixing a '."""
    quoted = '"' + column.replace('"', '""') + '"'
    value = f"{table}.{quoted}"
    if data_type != "VARCHAR":
        return value
    triggers = ", ".join(f"chr({ord(c)})" for c in FORMULA_TRIGGERS)
    return f"case when left({value}, 1) in ({triggers}) then '''' || {value} else {value} end as {quoted}"


def _export_code() -> str:
    """What else the bytes of an export depend on: the code that writes them, DuckDB's writers and
    fastparquet's thrift codec (the footer of an appended Parquet file)."""
    digest = hashlib.sha256(f"{duckdb.__version__}\0{importlib.metadata.version('fastparquet')}".encode())
    for module in (__file__, patches_export.__file__, parquet_append.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


def _fingerprint(code: str, columns: list[tuple[str, str]], count: int, hashes: object) -> str:
    """The content of a query's result as one value: its columns, its row count and the sum of its rows'
    hashes (order-free, computed by DuckDB in one scan), with the export code (`_export_code`)."""
    return hashlib.sha256(json.dumps([code, columns, count, str(hashes)]).encode()).hexdigest()


def _scan(
    con: duckdb.DuckDBPyConnection, query: str, columns: list[tuple[str, str]], code: str
) -> tuple[int, str]:
    """`query`'s row count and fingerprint (`_fingerprint`), in one scan."""
    count, hashes = con.execute(f"select count(*), sum(hash(q)) from ({query}) as q").fetchone()
    return count, _fingerprint(code, columns, count, hashes)


def _manifest(previous: Path | None) -> dict:
    """The `_run.json` of the export folder `previous`, if any ({} when there is none or it is unreadable)."""
    if previous is None:
        return {}
    try:
        manifest = json.loads((previous / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _link_previous(previous: Path | None, target: Path, files: list[str]) -> bool:
    """Hard-link `files` (relative paths) from `previous` into `target`; False if one is missing."""
    if previous is None or not all((previous / name).is_file() for name in files):
        return False
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(previous / name, target / name)
    return True


# The marts that grow by months, and their month column: a night that only adds later months appends
# their rows to the previous CSV and their row groups to the previous Parquet file (`_append_months`).
# Their Parquet files have no bloom filters: fastparquet's thrift codec, which writes the appended file's
# footer, cannot write a bloom filter's offset (regreen.parquet_append), and the rows are found by
# each row group's minimum and maximum all the same. Files are written in the table's order: sorting
# the 4.4 million rows of the 100× load by month took 1.6–2× the time of writing them (all exports of a
# full night 107 s instead of 60 s), so a chain of nights and a full build write the same rows, not the
# same order.
MONTHLY_EXPORTS = {"fct_project_month": "report_month", "fct_submission_versions": "report_month"}


@dataclass(frozen=True)
class _Mart:
    name: str
    columns: list[tuple[str, str]]

    @property
    def relation(self) -> str:
        return f'marts."{self.name}"'

    @property
    def files(self) -> list[str]:
        return [f"{self.name}.parquet", f"csv/{self.name}.csv"]

    @property
    def month(self) -> str | None:
        return MONTHLY_EXPORTS.get(self.name)

    def to_parquet(self, con: duckdb.DuckDBPyConnection, path: Path, where: str = "") -> None:
        options = "format parquet" if self.month is None else "format parquet, write_bloom_filter false"
        con.execute(f"copy ({self.select(csv=False, where=where)}) to {_sql_string(str(path))} ({options})")

    def select(self, csv: bool, where: str = "") -> str:
        """The query whose rows go to the file: for CSV, binary columns left out (a patch's WKB geometry
        means nothing in a spreadsheet: Parquet and gis/ have it) and formulas defused."""
        listed = "r.*"
        if csv:
            listed = ", ".join(_neutralised(c, t, "r") for c, t in self.columns if t != "BLOB")
        return f"select {listed} from {self.relation} as r{where}"


def _write_whole(con: duckdb.DuckDBPyConnection, mart: _Mart, target: Path) -> None:
    mart.to_parquet(con, target / mart.files[0])
    plain = target / "csv" / f"{mart.name}.csv.part"
    con.execute(f"copy ({mart.select(csv=True)}) to {_sql_string(str(plain))} (header)")
    with (target / mart.files[1]).open("wb") as out, plain.open("rb") as source:
        out.write(UTF8_BOM)
        shutil.copyfileobj(source, out)
    plain.unlink()


def _append_months(
    con: duckdb.DuckDBPyConnection,
    mart: _Mart,
    target: Path,
    previous: Path,
    through: str,
    prefetched: PreviousFiles | None,
) -> bool:
    """Write `mart`'s files as `previous`'s followed by its rows of months after `through` (or with no
    month): the CSV as the previous bytes unchanged, then the new rows' lines; the Parquet file as the
    previous row groups unchanged, then the new rows' (regreen.parquet_append), or whole when the
    previous file cannot take them (one written with bloom filters, before they were left out). The
    previous files are the copies `prefetched` made while the build ran, when it has them. False, with
    nothing written, when one of `previous`'s files is missing. The caller has proven that the rows up
    to `through` are exactly those `previous` holds."""
    if not all((previous / name).is_file() for name in mart.files):
        return False
    for name in mart.files:
        copied = prefetched.take(name) if prefetched is not None else None
        if copied is not None:
            copied.rename(target / name)
        else:
            copy_database(previous / name, target / name)
    later = f' where not (r."{mart.month}" <= date {_sql_string(through)}) or r."{mart.month}" is null'
    parquet, parquet_tail = target / mart.files[0], target / f"{mart.name}.parquet.part"
    mart.to_parquet(con, parquet_tail, where=later)
    if not parquet_append.append_row_groups(parquet, parquet_tail):
        logger.info("export %s: the previous Parquet file cannot take row groups; written whole", mart.name)
        parquet.unlink()
        mart.to_parquet(con, parquet)
    parquet_tail.unlink()
    csv_tail = target / "csv" / f"{mart.name}.csv.part"
    con.execute(f"copy ({mart.select(csv=True, where=later)}) to {_sql_string(str(csv_tail))} (header false)")
    with (target / mart.files[1]).open("ab") as out, csv_tail.open("rb") as source:
        shutil.copyfileobj(source, out)
    csv_tail.unlink()
    return True


class PreviousFiles:
    """Copies of the published export's files (CSV and Parquet) of the marts that grow by months, made
    in the background while the build runs (`start`), into the export folder being staged.

    A night that only adds months publishes those files as the previous ones with the new months
    appended (`_append_months`); the previous files never depend on what the night builds, only on
    export/, which nothing changes while a run holds the lock. At 100× the four files are 2.6 GB: on a
    filesystem without reflinks (ext4) copying and syncing them took 3–7 s of the publish stage, and a
    core is mostly idle while dbt runs. The copy is speculative: a night that restates a month writes
    those files whole and the copies are removed (`discard_unused`). Each copy is synced to disk as it
    is made, so the publish's fsync of the folder only writes what was appended.
    """

    SUFFIX = ".previous"

    def __init__(self, previous: Path, target: Path) -> None:
        self.previous = previous
        self.target = target
        self.names = [
            file
            for name in MONTHLY_EXPORTS
            if isinstance(_manifest(previous).get("through", {}).get(name), str)
            for file in _Mart(name, []).files
            if (previous / file).is_file()
        ]
        self.copied: dict[str, Path] = {}
        self.thread = threading.Thread(target=self._copy, name="previous-files", daemon=True)

    def start(self) -> None:
        if self.names and self.thread.ident is None:
            self.thread.start()

    def _copy(self) -> None:
        (self.target / "csv").mkdir(parents=True, exist_ok=True)
        for name in self.names:
            copy = self.target / f"{name}{self.SUFFIX}"
            try:
                copy_database(self.previous / name, copy)
                with copy.open("rb") as handle:
                    os.fsync(handle.fileno())
            except OSError as exc:  # e.g. the disk full: the publish copies it itself, or says why
                logger.warning("copy of the previous %s failed: %s", name, exc)
                copy.unlink(missing_ok=True)
                return
            self.copied[name] = copy

    def join(self) -> None:
        if self.thread.ident:
            self.thread.join()

    def take(self, name: str) -> Path | None:
        """The finished copy of the previous file `name` (a path in the export folder: it is the
        caller's now), or None."""
        self.join()
        return self.copied.pop(name, None)

    def discard_unused(self) -> None:
        """Remove the copies nobody took (a mart written whole or unchanged)."""
        self.join()
        for copy in self.copied.values():
            copy.unlink(missing_ok=True)
        self.copied.clear()


def export_marts(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    run_id: str,
    previous: Path | None = None,
    prefetched: PreviousFiles | None = None,
) -> dict[str, int]:
    """Write every marts.* relation of `con`'s database to `target`: Parquet, plus CSV for spreadsheets.

    Parquet keeps the values and types as they are. The CSV files under `csv/` are UTF-8 with a BOM (so
    Excel reads the Chinese right) and every text cell that starts with = + - @ or a tab/CR is prefixed
    with ' so no spreadsheet runs it as a formula. The patches go to `gis/` as a GeoPackage and GeoParquet
    in EPSG:4490 (regreen.patches.export). `_run.json` names the run the files belong to, each mart's row
    count and each one's content fingerprint (`_fingerprint`), and for the marts that grow by months
    (MONTHLY_EXPORTS) the latest month they hold.

    What the export folder published now (`previous`) already holds is not written again. A mart whose
    fingerprint equals the one `previous/_run.json` gives for it is hard-linked: the same bytes, which
    outlive `previous` when the swap removes it. A monthly mart whose rows up to the latest month
    `previous` holds have that fingerprint (only later months were added) is `previous`'s CSV and
    Parquet file with the new months' rows appended (`_append_months`: copied, by reflink where the
    filesystem can, or taken from the copies `prefetched` made while the build ran, and the new rows
    added); any other change (a restated month, a late file) writes the mart whole. Those fingerprints describe the files
    beside them whatever run wrote them (an export folder is only ever swapped in whole, `_run.json`
    last), so this holds for a repair or a rollback too.
    """
    (target / "csv").mkdir(parents=True, exist_ok=True)  # `prefetched` may have made it
    database = con.execute("select current_database()").fetchone()[0]
    relations = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = ? and table_schema = 'marts' order by table_name",
            [database],
        ).fetchall()
    ]
    code = _export_code()
    before = _manifest(previous)
    reusable = before.get("fingerprints") if isinstance(before.get("fingerprints"), dict) else {}
    reusable_through = before.get("through") if isinstance(before.get("through"), dict) else {}
    counts: dict[str, int] = {}
    fingerprints: dict[str, str] = {}
    through: dict[str, str | None] = {}
    for name in relations:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = ? and table_schema = 'marts' and table_name = ? order by ordinal_position",
            [database, name],
        ).fetchall()
        mart = _Mart(name, columns)
        if mart.month is None:
            counts[name], fingerprints[name] = _scan(con, f"select * from {mart.relation}", columns, code)
            if reusable.get(name) == fingerprints[name] and _link_previous(previous, target, mart.files):
                continue
            _write_whole(con, mart, target)
            continue
        month = f'"{mart.month}"'
        earlier = reusable_through.get(name)
        bound = f"date {_sql_string(earlier)}" if isinstance(earlier, str) else "null"
        count, hashes, latest, prefix_count, prefix_hashes = con.execute(
            f"select count(*), sum(hash(q)), max({month}), count(*) filter ({month} <= {bound}), "
            f"sum(hash(q)) filter ({month} <= {bound}) from (select * from {mart.relation}) as q"
        ).fetchone()
        counts[name], fingerprints[name] = count, _fingerprint(code, columns, count, hashes)
        through[name] = None if latest is None else latest.isoformat()
        if reusable.get(name) == fingerprints[name] and _link_previous(previous, target, mart.files):
            continue
        prefix = _fingerprint(code, columns, prefix_count, prefix_hashes)
        if (
            isinstance(earlier, str)
            and reusable.get(name) == prefix
            and _append_months(con, mart, target, previous, earlier, prefetched)
        ):
            logger.info("export %s: %d rows after %s appended", name, count - prefix_count, earlier)
            continue
        _write_whole(con, mart, target)
    if prefetched is not None:
        prefetched.discard_unused()  # before the manifest: the folder holds the exports and nothing else
    if has_patches(con):
        layer = f"{GIS_FOLDER}/{LAYER_NAME}"
        cursor = con.execute(f"select * from ({PATCHES_SQL}) limit 0")
        columns = [(column[0], str(column[1])) for column in cursor.description]
        counts[layer], fingerprints[layer] = _scan(con, PATCHES_SQL, columns, code)
        files = [f"{GIS_FOLDER}/{GEOPACKAGE}", f"{GIS_FOLDER}/{GEOPARQUET}"]
        if not (reusable.get(layer) == fingerprints[layer] and _link_previous(previous, target, files)):
            export_patches(con, target)
    manifest = {
        "run_id": run_id,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": counts,
        "fingerprints": fingerprints,
        "through": through,
    }
    (target / EXPORT_MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    _fsync_tree(target)
    return counts


class StagedExports:
    """A nightly's exports, staged in `export.tmp-<run>/` before its warehouse is published.

    They take work off the publish stage: the previous monthly CSVs are copied while dbt runs
    (`prefetch`, PreviousFiles), and the marts are exported (`write`) as soon as dbt has built them, in a
    thread beside the suites (regreen.build `stage_build`), since nothing after dbt changes a mart. The
    folder is only swapped in after the checks passed and the warehouse was renamed into place
    (regreen.publish's order is unchanged); a run that does not publish removes it (`close`), a killed
    run's is removed by the next run."""

    def __init__(self, data_dir: DataDir, run_id: str) -> None:
        self.run_id = run_id
        self.previous = export_dir(data_dir)
        self.target = export_tmp_dir(data_dir, run_id)
        self.previous_files = PreviousFiles(self.previous, self.target)
        self.written = False

    def prefetch(self) -> None:
        self.previous_files.start()

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        """Export every mart of `con`'s database into the staging folder (`export_marts`)."""
        export_marts(con, self.target, self.run_id, previous=self.previous, prefetched=self.previous_files)
        self.written = True

    def close(self) -> None:
        """Wait for the copies and remove what was not swapped in (nothing, once published)."""
        self.previous_files.join()
        shutil.rmtree(self.target, ignore_errors=True)


def export_run_id(export: Path) -> str | None:
    """The run whose exports are in `export`, or None if there are none (or they are unreadable)."""
    try:
        return json.loads((export / EXPORT_MANIFEST).read_text(encoding="utf-8"))["run_id"]
    except (OSError, ValueError, KeyError):
        return None


def swap_exports(new: Path, export: Path) -> None:
    """Put the finished export folder `new` in place of `export` in one step, then remove the old one."""
    make_readable(new)
    if not export.exists():
        new.rename(export)
    elif _exchange(new, export):
        shutil.rmtree(new)  # `new` now holds the previous exports
    else:
        # No atomic exchange on this system (not Linux, or a filesystem without it): for a moment there
        # is no export/ folder at all, which a reader sees as "missing", never as a mix of two runs.
        old = export.with_name(export.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        export.rename(old)
        new.rename(export)
        shutil.rmtree(old)
    fsync_path(export.parent)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically exchange two paths with Linux's renameat2; False when the system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        fsync_path(path)


# --- publishing -----------------------------------------------------------------------------------


def _rename_into_place(working: Path, published: Path) -> None:
    """Move a closed, checkpointed build into place in one rename: readers see all of it or none."""
    if working.with_name(working.name + ".wal").exists():
        raise RuntimeError(f"{working} still has a write-ahead log; it was not closed cleanly")
    make_readable(working)
    os.replace(working, published)
    logger.info("published %s", published)


def commit_warehouse(data_dir: DataDir, sealed: Path) -> None:
    """Steps 2 and 3 of a publish: keep the outgoing warehouse in history/, rename `sealed` into place."""
    previous = published_run_id(data_dir)
    if previous is not None:
        history_dir(data_dir).mkdir(exist_ok=True)
        kept = history_dir(data_dir) / f"{previous}.duckdb"
        if not kept.exists():
            os.link(data_dir.warehouse, kept)
    with sealed.open("rb") as handle:
        os.fsync(handle.fileno())
    _rename_into_place(sealed, data_dir.warehouse)
    fsync_path(data_dir.root)


def prune_history(data_dir: DataDir, keep: int) -> list[Path]:
    """Remove all but the `keep` newest warehouses in history/; returns what was removed."""
    runs = history_runs(data_dir)
    removed = [history_dir(data_dir) / f"{run}.duckdb" for run in runs[: max(len(runs) - keep, 0)]]
    for path in removed:
        path.unlink()
        logger.info("history: removed %s", path.name)
    return removed
