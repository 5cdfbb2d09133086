"""Puts the throughput table where people look: a "Registry" web UI tab, Locust's HTML report, a CSV file, the
terminal after Locust's own tables.

Only the master (or a local runner) reports: a worker's stats are reset every time it reports to the master.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from types import MappingProxyType
from typing import Any

from flask import Blueprint, Response, jsonify, make_response, request
from locust.env import Environment
from locust.runners import WorkerRunner

from ..open_model.figures import OpenFigures
from ..run.progress import human_bytes
from ..run.state import RegistryRun
from . import charts
from .history import NOW_SECONDS, Timeline
from .throughput import COLUMNS, add_to_report, as_csv, as_dicts, as_text, before_body, table

TAB = "registry"
OPEN_TAB = "open-model"  # arrivals, rollout and capacity figures, one line each
TAB_COLUMNS = MappingProxyType({**COLUMNS, "mbps_now": f"MB/s (last {NOW_SECONDS:g} s)", "moved": "Moved"})
"""The web UI's table: the report's columns, the current MB/s, and the bytes in human units."""
CHARTS_LINK = ('<a id="registry-charts-link" href="./registry/charts" target="_blank" style="position: fixed; '
               'bottom: 10px; right: 12px; z-index: 2000; font-family: sans-serif">Registry charts</a>')  # fmt: skip


def reports(environment: Environment) -> bool:
    return environment.runner is not None and not isinstance(environment.runner, WorkerRunner)


class Outputs:
    """One environment's reports: they read its stats, its history (`timeline`) and its open-model figures."""

    def __init__(
        self, environment: Environment, timeline: Timeline, figures: OpenFigures, run: Callable[[], RegistryRun | None]
    ) -> None:
        self.environment = environment
        self.timeline = timeline
        self.figures = figures
        self.run = run
        self.started = time.time()  # a report file older than this run's start was not written by it

    def install_tab(self) -> None:
        """The Registry tab (Locust's extended_tabs / extended_tables), its CSV download, and /registry as JSON."""
        environment = self.environment
        web_ui = environment.web_ui
        if web_ui is None or web_ui.app is None:
            return
        app = web_ui.app
        web_ui.template_args.update(
            extended_tabs=[{"title": "Registry", "key": TAB}, {"title": "Open model", "key": OPEN_TAB}],
            extended_tables=[
                {"key": TAB, "structure": [{"key": k, "title": t} for k, t in TAB_COLUMNS.items()]},
                {"key": OPEN_TAB, "structure": [{"key": "figures", "title": "Progress and open-model figures"}]},
            ],
            extended_csv_files=[
                {"href": "./registry/csv", "title": "Download registry throughput CSV"},
                {"href": "./registry/charts", "title": "Registry charts: MB/s, images/s, arrivals over time"},
            ],
        )
        options = environment.parsed_options
        routes = Blueprint("registry_tasks", __name__, url_prefix=getattr(options, "web_base_path", None) or None)

        def rows() -> list[Any]:
            assert environment.runner is not None
            return table(environment.runner.stats)

        @routes.route("/registry")
        @web_ui.auth_required_if_enabled
        def registry_json() -> Response:
            return jsonify(as_dicts(rows()))

        @routes.route("/registry/charts")
        @web_ui.auth_required_if_enabled
        def registry_charts() -> Response:
            response = make_response(charts.page(self.chart_markup(), refresh=True))
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            return response

        @routes.route("/registry/history")
        @web_ui.auth_required_if_enabled
        def registry_history() -> Response:
            return jsonify(self.timeline.history.as_dicts())

        @routes.route("/registry/csv")
        @web_ui.auth_required_if_enabled
        def registry_csv() -> Response:
            response = make_response(as_csv(rows()))
            response.headers["Content-Type"] = "text/csv"
            response.headers["Content-Disposition"] = "attachment;filename=registry_throughput.csv"
            return response

        @app.after_request
        def extend(response: Response) -> Response:
            """Add our rows to the stats the UI polls, and our table to the report it downloads."""
            if response.status_code != 200 or environment.runner is None:
                return response
            if request.path.endswith("/stats/requests") and response.is_json:
                extended = [{"key": TAB, "data": self.tab_rows(rows())},
                            {"key": OPEN_TAB, "data": self.figures.rows(self.run())}]  # fmt: skip
                data = {**response.get_json(), "extended_stats": extended}
                response.set_data(json.dumps(data))
            elif request.path.endswith("/stats/report"):
                response.set_data(self.with_charts(add_to_report(response.get_data(as_text=True), rows())))
            elif request.path.rstrip("/") == (getattr(options, "web_base_path", None) or "").rstrip("/") and (
                response.mimetype == "text/html"
            ):
                response.set_data(with_link(response.get_data(as_text=True)))
            return response

        app.register_blueprint(routes)

    def tab_rows(self, rows: list[Any]) -> list[dict[str, Any]]:
        now = self.timeline.history.mbps_now()
        return [{**asdict(row), "mbps_now": now.get((row.method, row.name), 0.0), "moved": human_bytes(row.bytes)}
                for row in rows]  # fmt: skip

    def chart_markup(self) -> str:
        run = self.run()
        found = self.figures.sections(run.settings) if run is not None else {}
        return charts.charts(self.timeline.history.as_dicts(), found)

    def with_charts(self, page: str) -> str:
        """The report with our charts after our table (once)."""

        def section() -> str:
            markup = self.chart_markup()
            return f'<section id="registry-charts" style="font-family: sans-serif; margin: 2em">{markup}</section>'

        return before_body(page, 'id="registry-charts"', section)

    def write_files(self) -> None:
        """`<csv prefix>_registry.csv`, and our table added to the `--html` report this run wrote."""
        environment = self.environment
        assert environment.runner is not None
        options = environment.parsed_options
        rows = table(environment.runner.stats)
        csv_prefix = getattr(options, "csv_prefix", None)
        if csv_prefix:
            with open(f"{csv_prefix}_registry.csv", "w", encoding="utf-8", newline="") as handle:
                handle.write(as_csv(rows))
        html_file = getattr(options, "html_file", None)
        if html_file and os.path.isfile(html_file) and os.path.getmtime(html_file) >= self.started:
            with open(html_file, encoding="utf-8") as handle:
                page = handle.read()
            with open(html_file, "w", encoding="utf-8") as handle:
                handle.write(self.with_charts(add_to_report(page, rows)))

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        """Locust writes its HTML report just before `quitting`; we complete it and add our CSV."""
        if reports(environment):
            self.write_files()

    def on_quit(self, **_: Any) -> None:
        """After Locust's own tables: the registry table, and the open model's figures when it ran (not with
        --json, whose output must stay JSON)."""
        environment = self.environment
        if not reports(environment) or getattr(environment.parsed_options, "json", False):
            return
        assert environment.runner is not None
        console = logging.getLogger("locust.stats_logger")
        console.info("")
        console.info(as_text(table(environment.runner.stats)))
        for line in self.figures.final:
            console.info(line)


def with_link(page: str) -> str:
    """The web UI's page with the link to the charts page (once)."""
    return before_body(page, "registry-charts-link", lambda: CHARTS_LINK)
