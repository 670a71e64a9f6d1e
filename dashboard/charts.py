"""Charts as pure functions of the named queries' data frames (plotly figures, no database, no Streamlit)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard.views import WEEKDAYS

PERCENT = {"tickformat": ".0%"}


def utilization_line(df: pd.DataFrame, *, grain: str, timezone: str) -> go.Figure:
    fig = px.bar(
        df,
        x="period",
        y="utilization",
        hover_data=["seats", "capacity", "slots"],
        labels={"period": f"{grain} ({timezone})", "utilization": "utilization"},
    )
    fig.update_yaxes(**PERCENT)
    return fig


def utilization_heatmap(df: pd.DataFrame, *, timezone: str) -> go.Figure:
    """Weekday x local start hour; every weekday row is shown, hours as they occur."""
    grid = df.pivot_table(index="weekday", columns="hour", values="utilization", aggfunc="sum")
    grid = grid.reindex(range(1, 8))
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[f"{h:02d}:00" for h in grid.columns],
            y=list(WEEKDAYS),
            colorscale="Blues",
            zmin=0,
            zmax=max(1.0, float(df["utilization"].max() or 0)),
            hovertemplate="%{y} %{x}: %{z:.0%}<extra></extra>",
            colorbar={"tickformat": ".0%"},
        )
    )
    fig.update_layout(xaxis_title=f"slot start ({timezone})", yaxis={"autorange": "reversed"})
    return fig


def utilization_bars(df: pd.DataFrame, *, dimension: str) -> go.Figure:
    fig = px.bar(df, x=dimension, y="utilization", hover_data=["seats", "capacity", "slots"])
    fig.update_yaxes(**PERCENT)
    return fig


def rates_over_time(df: pd.DataFrame, *, grain: str, timezone: str) -> go.Figure:
    long = df.melt(
        id_vars=["period"], value_vars=["cancellation_rate", "no_show_rate"], var_name="rate", value_name="share"
    )
    fig = px.line(long, x="period", y="share", color="rate", markers=True, labels={"period": f"{grain} ({timezone})"})
    fig.update_yaxes(**PERCENT)
    return fig


def rate_bars(df: pd.DataFrame, *, dimension: str) -> go.Figure:
    data = df.copy()
    if dimension == "weekday":
        data["weekday"] = [WEEKDAYS[int(d) - 1] for d in data["weekday"]]
    elif dimension == "hour":
        data["hour"] = [f"{int(h):02d}:00" for h in data["hour"]]
    fig = px.bar(data, x=dimension, y=["cancellation_rate", "no_show_rate"], barmode="group", hover_data=["bookings"])
    fig.update_yaxes(**PERCENT)
    return fig


def counts_bar(df: pd.DataFrame, *, x: str, y: str = "cancellations") -> go.Figure:
    return px.bar(df, x=x, y=y)


def check_history(df: pd.DataFrame, *, timezone: str) -> go.Figure:
    fig = px.scatter(
        df,
        x="started_at",
        y="check_name",
        color="status",
        color_discrete_map={"passed": "#2e7d32", "failed": "#c62828", "errored": "#ef6c00"},
        hover_data=["violation_count"],
        labels={"started_at": f"run started ({timezone})", "check_name": "check"},
    )
    fig.update_layout(height=120 + 40 * max(df["check_name"].nunique(), 1))
    return fig
