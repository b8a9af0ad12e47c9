"""A smoke run of the benchmark suite at toy sizes: every part runs and reports.

The real runs (`make bench`) take many minutes and are never timed in tests.
"""

from __future__ import annotations

from benchmarks import order_changes, suite


def test_the_suite_runs_at_toy_sizes(tmp_path):
    results = {
        "machine": "test",
        "when": "now",
        "side_by_side": suite.side_by_side(50, 3000, 300),
        "growth": {
            "zones": {
                "points": [suite._growth_point("zones", z, 20, 3) for z in (1, 5)],
                "time_per_fix_grows_as": "-",
                "memory_grows_as": "-",
            },
            "victims": {
                "points": [suite._growth_point("victims", v, 20, 3) for v in (1, 3)],
                "time_per_fix_grows_as": "-",
                "memory_grows_as": "-",
            },
        },
        "recovery": suite._recovery_point(200),
        "order_changes": order_changes.run(200, 12, 1),
    }
    systems = [row["system"] for row in results["side_by_side"]["rows"]]
    assert systems[:2] == ["emon engine core", "naive shapely loop"]
    assert all(row["fixes_per_s"] > 0 for row in results["side_by_side"]["rows"])
    assert results["growth"]["victims"]["points"][1]["devices"] == 20 * 4
    assert results["recovery"]["messages_replayed"] == 400
    changes = results["order_changes"]
    assert changes["devices"] == 400  # four orders revoked (8 devices), four new (8 devices)
    assert 0 < changes["change_p50_ms"] <= changes["change_p99_ms"] <= changes["change_max_ms"]
    text = suite.markdown(results)
    assert "Side by side" in text and "Start-up and recovery" in text
    assert "Order changes while fixes flow" in text
    made = suite.plots(results, tmp_path)
    assert "growth_zones.png" in made and (tmp_path / "growth_zones.png").stat().st_size > 1000
    assert abs(suite._exponent([1, 10, 100], [2, 20, 200]) - 1.0) < 1e-9


def test_the_storage_year_runs_at_toy_size():
    from benchmarks import storage_year
    from tests.integration.serve import need_service

    need_service("PostgreSQL", "127.0.0.1", 5432)
    row = storage_year.run(2, 40, timescaledb=False)
    assert row["rows"] == 2 * 40 * 1440 and row["layout"] == "native"
    assert row["order_month_fixes"] == 2 * 9 * 1440  # the order's two devices, days 31-40
    assert row["copy_rows_per_s"] > 0 and row["bytes_per_device_day"] > 0
    assert "Storage for a year" in suite.markdown({"machine": "t", "when": "n",
                                                    "storage": {"rows": [row]}})  # fmt: skip
