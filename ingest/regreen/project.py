"""Where things are: the project's own files and the layout of a data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# ingest/regreen/project.py -> the repository root, which holds dbt_project.yml, models/, seeds/, expectations/.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_NOTICE = Path(__file__).resolve().parent / "data" / "quantai-guanban-2023-36.txt"
SEEDS_DIR = PROJECT_ROOT / "seeds"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
# The figures each notice commits to, which the plan suites enforce: one file per notice.
CONTRACTS_DIR = EXPECTATIONS_DIR / "contracts"
BUNDLED_CONTRACT = CONTRACTS_DIR / "quantai-guanban-2023-36.json"
DEFAULT_DATA_DIR = PROJECT_ROOT / "warehouse"


@dataclass(frozen=True)
class DataDir:
    """The files of one regreen installation, all under one folder (default `warehouse/`)."""

    root: Path

    @property
    def warehouse(self) -> Path:
        """The published warehouse that analysts and BI tools open (read-only)."""
        return self.root / "regreen.duckdb"

    @property
    def landing(self) -> Path:
        """The raw landing zone: every received file's rows, personal data included. Never published."""
        return self.root / "landing.duckdb"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def archive(self) -> Path:
        """Every received file, byte for byte (personal data included), named by its sha256; owner-only."""
        return self.root / "archive"

    @property
    def quarantine(self) -> Path:
        """Rejected files as received (personal data included), each with its error report; owner-only."""
        return self.root / "quarantine"

    @property
    def work(self) -> Path:
        """Builds in progress; a build is moved into place only after its checks pass."""
        return self.root / "work"

    @property
    def contracts(self) -> Path:
        """Figure contracts of notices regreen does not bundle (see expectations/contracts/)."""
        return self.root / "contracts"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def ensure(self) -> DataDir:
        if not self.root.exists():
            # Readers of the published warehouse, exports and report pass through it (make_readable).
            self.root.mkdir(parents=True)
            self.root.chmod(PUBLISHED_FOLDER_MODE)
        for folder in (self.inbox, self.work, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        # The files as received, personal data included: readable by the owner (the regreen user) only.
        for folder in (self.archive, self.quarantine):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        return self


# regreen runs with a umask that keeps what it writes its own (cli.main): the landing zone, archive and
# quarantine hold personal data. What it publishes is for other users (BI tools, analysts, officials) and
# holds none: the warehouse, its exports, the report and the data dictionary are given these modes.
PRIVATE_UMASK = 0o077
PUBLISHED_FILE_MODE = 0o644
PUBLISHED_FOLDER_MODE = 0o755


def make_readable(path: Path) -> None:
    """Give `path` (a file, or a folder and everything in it) the published modes."""
    if path.is_dir():
        path.chmod(PUBLISHED_FOLDER_MODE)
        for inner in path.rglob("*"):
            inner.chmod(PUBLISHED_FOLDER_MODE if inner.is_dir() else PUBLISHED_FILE_MODE)
    else:
        path.chmod(PUBLISHED_FILE_MODE)


def fsync_path(path: Path) -> None:
    """Wait until `path` is on disk: a file's bytes, or a folder's entries (a rename or a new file in it)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
