"""Memory: one DuckDB memory limit for every connection that does a build's heavy work, and the
process's own resident high-water mark, stage by stage.

DuckDB's default memory limit is 80 % of the machine's RAM, and its buffer manager keeps the blocks it
has read cached up to that limit: a nightly at 100× the province load held about 3 GB with nothing to
bound it. `[storage] memory_limit` bounds each DuckDB database a build opens: the load of the raw tables,
dbt's models and tests (in its child, through profiles.yml's `settings:`), the compaction, the
exports, the report's queries. Beyond it DuckDB spills joins, windows and sorts to a temporary folder
beside the database (`<file>.tmp`, or the one `spill_to` names for a connection with no file of its
own), so a lower limit costs time, not failure, down to what one operator needs in memory at once.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from regreen.errors import MemoryLimitError

_HWM = re.compile(r"^VmHWM:\s+(\d+) kB$", re.MULTILINE)


def limit_connection(
    con: duckdb.DuckDBPyConnection,
    memory_limit: str,
    spill_to: Path | None = None,
    ordered: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Bound `con`'s database to `memory_limit` (config storage.memory_limit); spill to `spill_to` when
    given (a connection on an in-memory database would spill to `.tmp` in the working directory);
    with `ordered=False`, let DuckDB write rows in any order (where no one reads the order: it then
    need not hold rows back to keep them in sequence). Returns `con`."""
    con.execute("set memory_limit = ?", [memory_limit])
    if spill_to is not None:
        con.execute("set temp_directory = ?", [str(spill_to)])
    if not ordered:
        con.execute("set preserve_insertion_order = false")
    return con


@contextlib.contextmanager
def within_memory_limit(memory_limit: str) -> Iterator[None]:
    """Report DuckDB running out of `memory_limit` (what it cannot spill: a hash table or a row larger
    than the limit) as MemoryLimitError, which names the setting to raise."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        raise MemoryLimitError(memory_limit, str(exc).splitlines()[0]) from exc


def memory_limit_of(con: duckdb.DuckDBPyConnection) -> str:
    """The memory limit `con`'s database runs under, as DuckDB shows it ("953.6 MiB")."""
    return con.execute("select current_setting('memory_limit')").fetchone()[0]


def check_memory_limit(value: str) -> bool:
    """Whether DuckDB reads `value` as a memory limit ("1GB", "768MiB", "50%")."""
    with duckdb.connect() as con:
        try:
            con.execute("set memory_limit = ?", [value])
        except duckdb.Error:
            return False
    return True


def peak_rss_mb() -> float | None:
    """This process's resident high-water mark (VmHWM) in MiB since it started or since the last
    `reset_peak_rss`; None where /proc does not say (not Linux).

    Not `getrusage`'s ru_maxrss: Linux carries that over from the parent through fork and exec, so a
    child forked from a large process reports the parent's size as its own."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    found = _HWM.search(status)
    return round(int(found.group(1)) / 1024, 1) if found else None


def reset_peak_rss() -> None:
    """Start the high-water mark again from the current resident size (Linux: clear_refs 5); where it
    cannot be reset the mark keeps counting from the start, so a stage may show an earlier one's peak.

    Linux keeps one mark: the peak a parent reads from wait4 (ru_maxrss) is reset with it, so the
    process's peak over its whole life is the largest of what it read between resets."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
