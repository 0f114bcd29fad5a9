"""The Campaigns app: server-rendered pages over the warehouse, mounted by the Airflow plugin.

Every page requires an authenticated Airflow user (`access.current_viewer`). Pages for a user who
may not see contact details are rendered by a template environment whose `finalize` masks any
e-mail address in any rendered value, on top of the explicit masking of recipients.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from marketflow.audiences.composition import AudienceThresholds, Composition, composition_warnings, run_composition
from marketflow.campaigns.config import CampaignConfig, CampaignConfigError, campaigns_dir, load_campaign
from marketflow.ui import charts
from marketflow.ui.access import NotAuthenticated, Viewer, current_viewer, not_authenticated_response
from marketflow.campaigns.outcomes import latest_order_date, revenue_difference
from marketflow.ui.campaign_report import (
    CampaignResult,
    exclusion_counts,
    latest_run,
    latest_selected_run,
    sample_messages,
)
from marketflow.ui.campaign_report import campaign_results as read_campaign_results
from marketflow.ui.labels import label, label_text, metric_label
from marketflow.ui.model_report import (
    champion, metric_names, model_history, served_exposures, served_group_quality, verdict
)
from marketflow.ui.privacy import pseudonym, scrub_emails
from marketflow.ui.quality_report import DAY_OUTCOMES, QualityDay, quality_overview
from marketflow.ui.schedules import campaign_dag_id, campaign_schedules
from marketflow.ui.uplift import uplift
from marketflow.warehouse import warehouse_engine

SAMPLE_MESSAGES = 6
PREVIEW_MESSAGES = 3
METRIC_COLUMNS_PER_KIND = 12
STATIC_DIR = Path(__file__).parent / "static"
#: Sent with every response: no script runs, nothing loads from elsewhere (a message preview's images
#: included: no tracking pixel fires), the pages may be framed by the Airflow UI only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# --- formatting -----------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    """One decimal; small non-zero shares keep two significant digits instead of reading 0.0 %."""
    if value is None:
        return "—"
    percent = value * 100
    return f"{percent:.2g} %" if 0 < abs(percent) < 0.1 else f"{percent:.1f} %"


def _points(value: float | None) -> str:
    """A difference of rates in percentage points, signed (and never "-0.0")."""
    if value is None:
        return "—"
    points = round(value * 100, 1)
    return f"{points + 0.0:+.1f} pp"


def _number(value: float | int | None) -> str:
    """Counts with thousands separators; metrics with four significant digits."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"


def _money(value: float | None) -> str:
    if value is None:
        return "—"
    return f"−£{-value:,.2f}" if value < 0 else f"£{value:,.2f}"


def _signed_money(value: float | None) -> str:
    """A difference of money, signed (and never "-£0.00")."""
    if value is None:
        return "—"
    rounded = round(value, 2) + 0.0
    return f"+£{rounded:,.2f}" if rounded >= 0 else f"−£{-rounded:,.2f}"


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _finalize_masked(value: Any) -> Any:
    """Applied to every value a viewer's page renders: no e-mail address survives."""
    if isinstance(value, Markup):
        return Markup(scrub_emails(str(value)))
    if isinstance(value, str):
        return scrub_emails(value)
    return value


def _environment(masked: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("marketflow.ui", "templates"),
        autoescape=select_autoescape(["html"]),
        finalize=_finalize_masked if masked else None,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        percent=_percent,
        points=_points,
        number=_number,
        money=_money,
        signed_money=_signed_money,
        when=_when,
        label=label,
        label_text=label_text,
    )
    return env


_FULL = _environment(masked=False)
_MASKED = _environment(masked=True)


@lru_cache(maxsize=1)
def _pseudonym_key() -> bytes:
    """Keyed by the deployment's JWT secret, so pseudonyms are stable across api-server workers."""
    from airflow.configuration import conf

    secret = conf.get("api_auth", "jwt_secret", fallback="") or os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET", "")
    return secret.encode() if secret else secrets.token_bytes(32)


def _render(request: Request, viewer: Viewer, template: str, **context: Any) -> HTMLResponse:
    env = _FULL if viewer.can_see_contacts else _MASKED
    html = env.get_template(template).render(
        base=request.scope.get("root_path", "").rstrip("/"), viewer=viewer, **context
    )
    return HTMLResponse(html)


def _recipient(viewer: Viewer, customer_id: str, email: str | None) -> str:
    if viewer.can_see_contacts:
        return f"{customer_id} · {email}" if email else f"{customer_id} · no e-mail on file"
    return pseudonym(customer_id, _pseudonym_key())


# --- pages ---------------------------------------------------------------------------------------


def _campaign_config(name: str) -> CampaignConfig | None:
    """The campaign's file as it is now, for its description and the preview; None when it is gone
    or invalid (the page still shows the runs the warehouse holds)."""
    try:
        return load_campaign(campaigns_dir() / f"{name}.yaml")
    except (CampaignConfigError, OSError):
        return None


def _uplift_chart(result: CampaignResult) -> Markup | None:
    intervals = [
        charts.Interval(run.day.isoformat(), u.estimate, u.low, u.high)
        for run in result.measured_runs
        if (u := run.uplift) is not None
    ]
    if not intervals:
        return None
    return charts.interval_chart(f"Conversion uplift per run of {label_text(result.name, 'name')}", intervals, _points)


def _audience_composition(conn: Connection, campaign: str) -> Composition | None:
    """The composition of the campaign's newest run with members (counts only: every viewer sees it)."""
    run_key = latest_selected_run(conn, campaign)
    return run_composition(conn, run_key) if run_key else None


def campaigns_page(request: Request, viewer: Viewer) -> HTMLResponse:
    with warehouse_engine().connect() as conn:
        results = read_campaign_results(conn)
    schedules = campaign_schedules()
    names = sorted(set(results) | set(schedules))
    rows = []
    for name in names:
        result, schedule = results.get(name, CampaignResult(name)), schedules.get(name)
        rows.append((result, schedule, latest_run(result, schedule), _campaign_config(name)))
    return _render(request, viewer, "campaigns.html", rows=rows, page="campaigns")


def campaign_page(request: Request, viewer: Viewer, name: str) -> HTMLResponse:
    with warehouse_engine().connect() as conn:
        result = read_campaign_results(conn, campaign=name).get(name)
        schedule = campaign_schedules().get(name)
        config = _campaign_config(name)
        if result is None and schedule is None and config is None:
            raise HTTPException(status_code=404, detail=f"No campaign named {name!r}")
        result = result or CampaignResult(name)
        latest = latest_run(result, schedule)
        exclusions = exclusion_counts(conn, latest.run.run_key) if latest.run else {}
        composition = _audience_composition(conn, name)
        samples = sample_messages(conn, name, SAMPLE_MESSAGES, with_contacts=viewer.can_see_contacts)
        newest_order = latest_order_date(conn)
    messages = [(sample, _recipient(viewer, sample.customer_id, sample.email)) for sample in samples]
    variants = [
        (variant, outcome, uplift(outcome, result.control), revenue_difference(outcome, result.control))
        for variant, outcome in result.variants.items()
    ]
    thresholds = AudienceThresholds.from_env()
    return _render(
        request,
        viewer,
        "campaign.html",
        result=result,
        config=config,
        schedule=schedule,
        latest=latest,
        dag_id=campaign_dag_id(name),
        chart=_uplift_chart(result),
        exclusions=exclusions,
        composition=composition,
        composition_warnings=composition_warnings(composition, thresholds) if composition else [],
        min_group_customers=thresholds.min_group_customers,
        variants=variants,
        messages=messages,
        newest_order=newest_order,
        page="campaigns",
    )


def preview_page(request: Request, viewer: Viewer, name: str, day: dt.date | None) -> HTMLResponse:
    """What a run of `day` would select and write, computed now; nothing is stored or sent."""
    from marketflow.audiences.selection import AudienceInputsMissing
    from marketflow.campaigns.pipeline import preview_run
    from marketflow.freshness import StaleInputs

    config = _campaign_config(name)
    if config is None:
        raise HTTPException(status_code=404, detail=f"No campaign file named {name!r}")
    engine = warehouse_engine()
    with engine.connect() as conn:
        newest_order = latest_order_date(conn)
    day = day or newest_order
    preview = blocked = None
    if day is not None:
        try:
            preview = preview_run(engine, config, day, PREVIEW_MESSAGES)
        except (StaleInputs, AudienceInputsMissing) as exc:
            blocked = str(exc)
    shown = (lambda c: c) if viewer.can_see_contacts else (lambda c: pseudonym(c, _pseudonym_key()))
    messages = [(msg, shown(msg.customer_id)) for msg in preview.messages] if preview else []
    return _render(
        request,
        viewer,
        "preview.html",
        config=config,
        day=day,
        newest_order=newest_order,
        preview=preview,
        blocked=blocked,
        messages=messages,
        page="campaigns",
    )


def models_page(request: Request, viewer: Viewer) -> HTMLResponse:
    with warehouse_engine().connect() as conn:
        history = model_history(conn)
        exposures, exposure_warnings = served_exposures(conn, history.get("recommender", []))
    kinds = []
    for kind, versions in history.items():
        judged = verdict(kind, versions)
        chart = None
        if judged is not None:
            metric = judged.headline.metric
            points = [
                charts.Point(v.trained_as_of.isoformat(), v.metrics[metric], v.is_champion)
                for v in versions
                if metric in v.metrics
            ]
            baseline = [v.metrics.get(judged.headline.baseline_metric) for v in versions if metric in v.metrics]
            if points:
                chart = charts.line_chart(f"{kind}: {metric_label(metric)}", points, _number, baseline)
        names = metric_names(versions, METRIC_COLUMNS_PER_KIND)
        kinds.append((kind, versions, champion(versions), judged, chart, names))
    group_quality = served_group_quality(history.get("recommender", []))
    return _render(request, viewer, "models.html", kinds=kinds, exposures=exposures,
                   exposure_warnings=exposure_warnings, group_quality=group_quality, page="models")


def _daily_bars(days: list[QualityDay]) -> tuple[list[charts.Bar], list[charts.Bar]]:
    """Rows loaded and quarantined per day, oldest first; a loaded bar is coloured by the day's outcome."""
    ordered = sorted(days, key=lambda d: d.day)
    loaded = [charts.Bar(d.day.isoformat(), d.rows_loaded, d.outcome) for d in ordered]
    quarantined = [charts.Bar(d.day.isoformat(), d.rows_quarantined, "quarantined") for d in ordered]
    return loaded, quarantined


def quality_page(request: Request, viewer: Viewer, problems_only: bool) -> HTMLResponse:
    with warehouse_engine().connect() as conn:
        overview = quality_overview(conn)
    days = overview.calendar_days
    loaded_chart = quarantine_chart = None
    if days:
        loaded, quarantined = _daily_bars(days)
        loaded_chart = charts.bar_chart("Rows loaded per day", loaded, _number)
        quarantine_chart = charts.bar_chart("Rows quarantined per day", quarantined, _number)
    return _render(
        request,
        viewer,
        "quality.html",
        overview=overview,
        days=[d for d in days if d.has_problem] if problems_only else days,
        all_days=len(days),
        problem_days=sum(d.has_problem for d in days),
        problems_only=problems_only,
        outcomes=DAY_OUTCOMES,
        loaded_chart=loaded_chart,
        quarantine_chart=quarantine_chart,
        page="quality",
    )


def create_app() -> FastAPI:
    """The app the plugin mounts at /marketflow (and tests drive directly)."""
    app = FastAPI(title="Marketflow campaigns", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(NotAuthenticated, not_authenticated_response)  # type: ignore[arg-type]

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(HTTPException)
    async def error_page(request: Request, exc: HTTPException) -> Response:
        """Browsers get a page in the app's layout; API clients keep FastAPI's JSON."""
        if "text/html" not in request.headers.get("accept", ""):
            return await http_exception_handler(request, exc)
        html = _FULL.get_template("error.html").render(
            base=request.scope.get("root_path", "").rstrip("/"),
            title="Not found" if exc.status_code == 404 else f"Error {exc.status_code}",
            detail=exc.detail,
        )
        return HTMLResponse(html, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(ProgrammingError)
    def warehouse_unavailable(request: Request, exc: Exception) -> HTMLResponse:
        detail = str(getattr(exc, "orig", exc)).splitlines()[0]
        return HTMLResponse(
            "<h1>The warehouse is not ready</h1><p>Is the <code>marketflow_warehouse</code> connection set "
            "and the schema migrated (<code>marketflow warehouse upgrade</code>)?</p>"
            f"<p><small>{Markup.escape(detail)}</small></p>",
            status_code=503,
        )

    @app.get("/", response_class=HTMLResponse)
    def campaigns(request: Request, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
        return campaigns_page(request, viewer)

    @app.get("/campaigns/{name}", response_class=HTMLResponse)
    def campaign(request: Request, name: str, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
        return campaign_page(request, viewer, name)

    @app.get("/campaigns/{name}/preview", response_class=HTMLResponse)
    def preview(
        request: Request, name: str, day: dt.date | None = None, viewer: Viewer = Depends(current_viewer)
    ) -> HTMLResponse:
        return preview_page(request, viewer, name, day)

    @app.get("/models", response_class=HTMLResponse)
    def models(request: Request, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
        return models_page(request, viewer)

    @app.get("/data-quality", response_class=HTMLResponse)
    def data_quality(
        request: Request, show: str = Query("all", pattern="^(all|problems)$"), viewer: Viewer = Depends(current_viewer)
    ) -> HTMLResponse:
        return quality_page(request, viewer, problems_only=show == "problems")

    return app
