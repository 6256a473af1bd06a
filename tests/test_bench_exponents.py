"""The scale bench's exponents (k in cost ∝ size^k) from measured figures: each cost against the size it
is in proportion to, a stage one size did not run left unmeasured, and the smallest-to-largest pair; and
the sizes it measures."""

from __future__ import annotations

import sys

import pytest

from regreen.project import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
from bench_nightly import Measured, scaling_exponent  # noqa: E402
from bench_scale import Bracket, SizeResult, exponents, render_exponents, sizes_to_run  # noqa: E402


def test_a_quadratic_cost_has_exponent_two_and_a_fixed_one_zero() -> None:
    assert scaling_exponent(1_000, 0.5, 10_000, 50.0) == pytest.approx(2.0)
    assert scaling_exponent(1_000, 3.0, 100_000, 3.0) == pytest.approx(0.0)
    assert scaling_exponent(1_000, 2.0, 10_000, 20.0) == pytest.approx(1.0)


def _size(size: int, months: int, csv_rows: int, stages: dict[str, float], wall: float) -> SizeResult:
    def night(seconds: float) -> Measured:
        return Measured(f"{size}x", "full", 0, seconds, 100.0 * size, 10, csv_rows, months, stages)

    return SizeResult(
        size=size,
        projects=1_300 * size,
        csv_rows=csv_rows,
        csv_files=40,
        read_csv_seconds=0.1 * size,
        full=night(wall),
        incremental=night(wall / 5),
        full_file_mb=20.0 * size,
        incremental_file_mb=20.0 * size,
        bare_sql_seconds=0.5 * size,
        bare_sql_limited_seconds=0.5 * size,
        bare_equal=True,
        suites={"regreen_seconds": 2.0, "sql_seconds": 0.2 * size},
        rebuilt=Bracket(0.4 * size, 0.6 * size, 10.0 * size**0.5, 1.0 * size, 12.0 * size, 20.0 * size),
    )


def test_each_cost_grows_against_its_own_size() -> None:
    # Project-months grow tenfold and then tenfold; the CSV rows a hundredfold, then tenfold.
    # A stage the larger nights did not run (compact), and one too short to time at 1× (publish).
    small = _size(1, 40_000, 10_000, {"ingest": 1.0, "dbt": 10.0, "compact": 0.5, "publish": 0.0}, 20.0)
    middle = _size(10, 400_000, 1_000_000, {"ingest": 10.0, "dbt": 20.0, "publish": 0.5}, 40.0)
    large = _size(100, 4_000_000, 10_000_000, {"ingest": 1_000.0, "dbt": 40.0, "publish": 5.0}, 80.0)
    table = exponents([large, small, middle])  # in any order

    assert list(table["full night, wall s"]) == ["1×→10×", "10×→100×", "1×→100×"]
    assert table["full night, wall s"]["1×→10×"] == pytest.approx(0.301, abs=1e-3)
    # Ingest against CSV rows: ×100 rows for ×10 seconds, then ×10 rows for ×100 seconds.
    assert table["  its ingest s"] == pytest.approx({"1×→10×": 0.5, "10×→100×": 2.0, "1×→100×": 1.0})
    assert table["  its dbt s"]["1×→100×"] == pytest.approx(0.301, abs=1e-3)
    assert table["  its compact s"] == {"1×→10×": None, "10×→100×": None, "1×→100×": None}
    assert table["  its publish s"] == {"1×→10×": None, "10×→100×": pytest.approx(1.0), "1×→100×": None}
    assert table["full build's dbt stage s"]["10×→100×"] == pytest.approx(0.5)
    assert table["suites, as regreen runs them s"]["1×→10×"] == pytest.approx(0.0)
    assert table["hand SQL of the two facts s"]["1×→100×"] == pytest.approx(1.0)

    rendered = render_exponents(table).splitlines()
    assert rendered[0].split()[-3:] == ["1×→10×", "10×→100×", "1×→100×"]
    assert next(line for line in rendered if "its ingest" in line).split()[-3:] == ["0.50", "2.00", "1.00"]
    assert next(line for line in rendered if "compact" in line).split()[-3:] == ["—", "—", "—"]


def test_one_size_has_no_exponents() -> None:
    only = _size(1, 40_000, 10_000, {"ingest": 1.0}, 20.0)
    assert exponents([only]) == {}
    assert render_exponents({}) == ""


def test_each_size_is_measured_once_smallest_first() -> None:
    # `--sizes 1 10 100 --huge` measured 100× twice in one data directory: the second full night found
    # every file received already, published nothing, and the bench stopped on a traceback.
    assert sizes_to_run([1, 10, 100], huge=True) == [1, 10, 100]
    assert sizes_to_run([10, 1], huge=False) == [1, 10]
    assert sizes_to_run([1, 10], huge=True) == [1, 10, 100]
