"""The dashboard's pure parts: audit diffs, number formats, and charts drawn from plain data frames."""

from __future__ import annotations

from datetime import date

import pandas as pd
from dashboard.views import audit_diff, delta_pct_points, money, pct, timeline_diffs

from dashboard import charts


def test_an_audit_diff_lists_only_the_fields_that_changed() -> None:
    old = {"status": "confirmed", "party_size": 2, "version": 1}
    new = {"status": "cancelled", "party_size": 2, "version": 2}
    assert audit_diff(old, new) == [("status", "confirmed", "cancelled"), ("version", 1, 2)]


def test_a_created_row_diffs_every_field_against_nothing() -> None:
    assert audit_diff(None, '{"status": "confirmed"}') == [("status", None, "confirmed")]


def test_a_timeline_becomes_one_row_per_changed_field() -> None:
    timeline = pd.DataFrame(
        [
            {
                "id": 7,
                "occurred_local": "2030-01-08 10:00",
                "action": "booking.status.cancelled",
                "actor_type": "customer",
                "actor": "Ana",
                "old_values": {"status": "confirmed", "reason": None},
                "new_values": {"status": "cancelled", "reason": "sick"},
            }
        ]
    )
    diffs = timeline_diffs(timeline)
    assert list(diffs["field"]) == ["reason", "status"]
    assert list(diffs["after"]) == ["sick", "cancelled"]
    assert diffs["actor"].iloc[0] == "customer: Ana"


def test_rates_without_data_read_as_not_available() -> None:
    assert pct(None) == "n/a"
    assert delta_pct_points(0.25, None) is None
    assert delta_pct_points(0.30, 0.25) == "+5.0 pp"
    assert money(1234.5, "EUR") == "1,234.50 EUR"


def test_the_heatmap_has_a_row_for_every_weekday_even_without_slots() -> None:
    df = pd.DataFrame({"weekday": [4, 5], "hour": [14, 14], "utilization": [0.5, 1.25]})
    fig = charts.utilization_heatmap(df, timezone="Europe/Berlin")
    heat = fig.data[0]
    assert list(heat.y) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert heat.zmax == 1.25  # an over-committed cell stays on the scale


def test_rate_bars_name_weekdays_and_hours() -> None:
    df = pd.DataFrame(
        {"weekday": [1, 7], "bookings": [4, 2], "cancellation_rate": [0.25, 0.0], "no_show_rate": [0.0, 0.5]}
    )
    fig = charts.rate_bars(df, dimension="weekday")
    assert list(fig.data[0].x) == ["Mon", "Sun"]
    over_time = pd.DataFrame(
        {"period": [date(2030, 1, 7)], "seats": [3], "capacity": [10], "slots": [1], "utilization": [0.3]}
    )
    assert charts.utilization_line(over_time, grain="week", timezone="UTC").data
