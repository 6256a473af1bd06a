"""regreen.toml: defaults, values from the file with their source, and one-line errors for bad files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from regreen.config import SETTINGS, load_config, toml_value
from regreen.errors import ConfigError
from regreen.project import PROJECT_ROOT


def _regreen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regreen.cli", *args], capture_output=True, text=True, check=False
    )


def test_without_a_file_every_setting_is_its_default(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.get("general", "timezone") == "Asia/Shanghai"
    assert config.get("submissions", "due_day") == 5
    assert config.get("history", "keep") == 3
    assert {source for _, _, source, _ in config.rows()} == {"default"}
    assert len(config.rows()) == sum(len(keys) for keys in SETTINGS.values())


def test_values_in_the_data_dirs_file_win_and_say_where_they_came_from(tmp_path: Path) -> None:
    (tmp_path / "regreen.toml").write_text(
        '[general]\ntimezone = "Asia/Taipei"\n[submissions]\narea_over_plan_tolerance = 1\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path)
    assert config.get("general", "timezone") == "Asia/Taipei"
    assert config.zone.key == "Asia/Taipei"
    assert config.get("submissions", "area_over_plan_tolerance") == 1.0
    assert config.sources["general"]["timezone"] == str(tmp_path / "regreen.toml")
    assert config.sources["submissions"]["due_day"] == "default"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[general]\ntimezone = 'Mars/Olympus'\n", "general.timezone"),
        ("[history]\nkeep = 'three'\n", "history.keep"),
        ("[history]\nkeep = -1\n", "history.keep"),
        ("[history]\nkepp = 3\n", "history.kepp"),
        ("[nosuch]\nx = 1\n", "nosuch"),
        ("[history\nkeep = 3\n", "TOML"),
        ("[storage]\nduckdb_storage_version = 'v1.99'\n", "storage.duckdb_storage_version"),
    ],
)
def test_a_bad_file_is_one_error_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    (tmp_path / "regreen.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    assert named in str(error.value)
    assert str(tmp_path / "regreen.toml") in str(error.value)


def test_config_show_prints_the_effective_values_and_their_sources(tmp_path: Path) -> None:
    config_file = tmp_path / "site.toml"
    config_file.write_text("[history]\nkeep = 7\n", encoding="utf-8")
    shown = _regreen("config", "show", "--data-dir", str(tmp_path), "--config", str(config_file), "--json")
    assert shown.returncode == 0, shown.stderr
    rows = {row["key"]: row for row in json.loads(shown.stdout)}
    assert rows["history.keep"]["value"] == 7
    assert rows["history.keep"]["source"] == str(config_file)
    assert rows["general.timezone"] == {
        "key": "general.timezone",
        "value": "Asia/Shanghai",
        "source": "default",
        "meaning": SETTINGS["general"]["timezone"].doc,
    }
    as_toml = _regreen("config", "show", "--data-dir", str(tmp_path), "--config", str(config_file))
    assert tomllib.loads(as_toml.stdout)["history"]["keep"] == 7
    assert tomllib.loads(as_toml.stdout)["general"]["timezone"] == "Asia/Shanghai"


def test_a_missing_explicit_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _regreen("config", "show", "--data-dir", str(tmp_path), "--config", str(tmp_path / "no.toml"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no.toml" in result.stderr


@pytest.mark.parametrize("month", ["2023-6", "June", "2023-13"])
def test_the_first_month_due_must_be_a_month(tmp_path: Path, month: str) -> None:
    (tmp_path / "regreen.toml").write_text(f'[submissions]\nfirst_due_month = "{month}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert "submissions.first_due_month" in str(caught.value) and "YYYY-MM" in str(caught.value)


def test_the_operations_guide_lists_every_key_with_its_default() -> None:
    guide = (PROJECT_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([a-z_]+\.[a-z_]+)` \| `([^`]*)` \|", guide, flags=re.M)
    }
    expected = {
        f"{section}.{key}": toml_value(setting.default)
        for section, keys in SETTINGS.items()
        for key, setting in keys.items()
    }
    assert rows == expected
