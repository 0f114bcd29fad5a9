"""Headless Chromium against the deployment `make ui` runs (api-server with the plugin, scheduler,
dag-processor, triggerer, log server) over the Airflow home and warehouse `marketflow demo` filled
(`tests/ui/demo_run.py`): the pages render the demo's numbers inside the Airflow UI, viewers see no
e-mail address, the DAG list shows the pipeline's DAGs with their docs, the home page's components
are healthy and the demo's task logs are readable. Expected numbers are read from the warehouse.
Screenshots go to test-artifacts/ui/."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from marketflow.ui.privacy import EMAIL_PATTERN, TOKEN_PATTERN
from tests.conftest import REPO, _missing
from tests.ui.demo_run import DemoRun
from tests.ui.live_airflow import CHROMEDRIVER, CHROMIUM, chromium, free_port
from tests.ui.seed import recount_conversions

ARTIFACTS = REPO / "test-artifacts" / "ui"
WAIT_S = 90


@dataclass(frozen=True)
class LiveUI:
    base: str
    passwords: dict[str, str]


@pytest.fixture(scope="session")
def browser_warehouse(demo_run: DemoRun) -> str:
    """The warehouse the browser looks at: the one the demo filled."""
    if demo_run.returncode != 0:
        pytest.fail(f"the demo failed ({demo_run.returncode}):\n{demo_run.tail()}")
    return demo_run.warehouse_url


@pytest.fixture(scope="session")
def campaign(browser_warehouse: str) -> str:
    """The campaign the demo sent the most e-mails for, among those with a control group."""
    from sqlalchemy import func, select

    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import campaign_runs, messages

    stmt = (
        select(campaign_runs.c.campaign, func.count())
        .select_from(messages.join(campaign_runs, campaign_runs.c.run_key == messages.c.run_key))
        .where(messages.c.status == "sent", campaign_runs.c.control_size > 0)
        .group_by(campaign_runs.c.campaign)
    )
    with warehouse_engine(browser_warehouse).connect() as conn:
        sent = {name: int(n) for name, n in conn.execute(stmt)}
    assert sent, "the demo sent no campaign e-mail to an audience with a control group"
    return max(sent, key=lambda name: (sent[name], name))


@pytest.fixture(scope="module")
def blocked_campaign(browser_warehouse: str, campaign: str) -> Iterator[tuple[str, str]]:
    """Another campaign's run blocked the way a live run is: its day is past the newest orders, so
    the freshness check finds its inputs stale and `record_blocked` writes the row. The row goes at
    the end of this module (the demo's own tests count its runs)."""
    from sqlalchemy import delete

    from marketflow.campaigns.config import load_campaigns
    from marketflow.campaigns.runs import RunPlan, record_blocked
    from marketflow.freshness import check
    from marketflow.campaigns.outcomes import latest_order_date
    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import campaign_runs

    config = next(c for c in sorted(load_campaigns(), key=lambda c: c.name) if c.name != campaign)
    engine = warehouse_engine(browser_warehouse)
    with engine.begin() as conn:
        day = latest_order_date(conn) + dt.timedelta(days=3)
        freshness = check(conn, day, config.required_inputs())
        assert not freshness.fresh
        plan = RunPlan(config.name, day, "live", "the browser test's blocked run")
        record_blocked(conn, plan, freshness, config.attribution_days)
    yield config.name, freshness.reason()
    with engine.begin() as conn:
        conn.execute(delete(campaign_runs).where(campaign_runs.c.run_key == plan.run_key))


def _treatment_by_variant(url: str, campaign: str) -> tuple[int, dict[str, int]]:
    """(runs that sent e-mails, treatment members per variant over those runs), straight from SQL."""
    from sqlalchemy import func, select

    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import audience_members, campaign_runs, messages

    sent_runs = (
        select(messages.c.run_key)
        .join(campaign_runs, campaign_runs.c.run_key == messages.c.run_key)
        .where(campaign_runs.c.campaign == campaign, messages.c.status == "sent")
        .distinct()
    )
    per_variant = (
        select(audience_members.c.variant, func.count())
        .where(audience_members.c.arm == "treatment", audience_members.c.run_key.in_(sent_runs))
        .group_by(audience_members.c.variant)
    )
    with warehouse_engine(url).connect() as conn:
        runs = len(conn.execute(sent_runs).all())
        variants = {variant or "(none)": int(n) for variant, n in conn.execute(per_variant)}
    return runs, variants


@pytest.fixture(scope="session")
def live_ui(demo_run: DemoRun, browser_warehouse: str) -> Iterator[LiveUI]:
    """The demo's deployment as `make ui` runs it: `marketflow stack` in its own process, once a session.
    Its DAGs are paused first, so that no new run changes the numbers under test. At the end it is
    stopped with SIGINT (Ctrl-C), and every process and port it opened must be gone."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _missing(f"{CHROMIUM} or {CHROMEDRIVER} missing: run scripts/browser.sh (make test does)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("*.png"):  # the screenshots left are this session's
        stale.unlink()
    passwords = {"admin": secrets.token_hex(8), "viewer": secrets.token_hex(8)}
    passwords_file = demo_run.home / "browser_passwords.json"
    passwords_file.write_text(json.dumps(passwords))
    ports = {"api": free_port(), "logs": free_port()}
    env = {
        **demo_run.env,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__API__PORT": str(ports["api"]),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["logs"]),
    }
    for dag_id in {run["dag_id"] for run in demo_run.runs()}:
        subprocess.run([sys.executable, "-m", "airflow", "dags", "pause", dag_id], env=env, capture_output=True, check=True)
    output = ARTIFACTS / "stack.log"
    with output.open("w") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "marketflow.cli", "stack"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
    try:
        deadline = time.monotonic() + 240
        while "==> ready:" not in output.read_text():
            assert stack.poll() is None and time.monotonic() < deadline, output.read_text()[-3000:]
            time.sleep(1)
        yield LiveUI(f"http://127.0.0.1:{ports['api']}", passwords)
    finally:
        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=90) == 0, output.read_text()[-3000:]
    assert "SIGINT: stopped every component" in output.read_text()
    sink_port = int(demo_run.env["MARKETFLOW_SMTP_SINK_PORT"])
    still_open = [port for port in (ports["api"], ports["logs"], sink_port) if _listening(port)]
    assert still_open == [], f"ports still served after make ui stopped: {still_open}"
    assert _processes_with(str(demo_run.home)) == [], "processes of the deployment outlived make ui"


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes_with(text: str) -> list[str]:
    """Command lines of the running processes whose environment mentions `text` (the Airflow home)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "environ").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


@pytest.fixture(scope="session")
def browser(live_ui: LiveUI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    """Poll until `condition` holds; a poll that lands mid-navigation counts as "not yet".

    Chromium aborts a command that runs while the page is navigating (a login form's redirect)
    with "aborted by navigation"; the next poll sees the new page. Any other error still fails.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def polled(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as error:
            if "aborted by navigation" in str(error.msg):
                return False
            raise

    return WebDriverWait(driver, WAIT_S).until(polled, message=f"waited {WAIT_S} s for {what}")


def _present(css: str) -> Callable[[Any], Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    return ec.presence_of_element_located((By.CSS_SELECTOR, css))


def _login(driver: Any, ui: LiveUI, username: str) -> None:
    """Log in through Airflow's own login form, as a person would."""
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{ui.base}/auth/login?next=/")
    _wait(driver, _present("input[name=username]"), "the login form")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(ui.passwords[username])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(driver, lambda d: d.get_cookie("_token"), f"{username}'s session cookie")


def _full_page_screenshot(driver: Any, name: str) -> Path:
    """The whole page, not only the viewport: the window grows to the document's height first."""
    width = driver.get_window_size()["width"]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height + 120, 1000), 6000))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    driver.set_window_size(width, 1000)
    return path


def _open_page(driver: Any, ui: LiveUI, path: str, ready_css: str) -> str:
    driver.get(f"{ui.base}/marketflow{path}")
    _wait(driver, _present(ready_css), f"{path} to render")
    return driver.page_source


def test_an_anonymous_visitor_is_sent_to_the_login_page(browser: Any, live_ui: LiveUI, campaign: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{live_ui.base}/marketflow/campaigns/{campaign}")
    _wait(browser, lambda d: "/auth/login" in d.current_url, "the redirect to the login page")
    assert campaign not in browser.find_element("tag name", "body").text


def test_the_campaigns_page_opens_inside_the_airflow_ui_with_real_numbers(
    browser: Any, live_ui: LiveUI, browser_warehouse: str, campaign: str, blocked_campaign: tuple[str, str]
) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, live_ui, "admin")
    browser.get(f"{live_ui.base}/plugin/campaigns")
    frame = _wait(browser, _present("iframe"), "the plugin's frame in the Airflow UI")
    nav = browser.find_element(By.CSS_SELECTOR, "[aria-label='Campaigns']")
    assert nav.is_displayed()
    browser.switch_to.frame(frame)
    try:
        _wait(browser, _present(f'table[data-testid="campaigns"] tr[data-campaign="{campaign}"]'), "the campaign list")
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-campaign="{campaign}"]').text
        blocked_name, reason = blocked_campaign
        blocked = browser.find_element(By.CSS_SELECTOR, f'tr[data-campaign="{blocked_name}"] [data-testid="latest-run"]').text
    finally:
        browser.switch_to.default_content()
    browser.save_screenshot(str(ARTIFACTS / "01-campaigns-in-airflow-ui.png"))
    expected = recount_conversions(browser_warehouse, campaign)
    assert all(members > 0 for members, _ in expected.values()), expected
    for members, conversions in expected.values():
        assert f"{conversions:,} / {members:,}" in row
    assert re.search(r"[+-]\d+\.\d pp \[[+-]\d+\.\d pp, [+-]\d+\.\d pp\]", row), row
    # the blocked run is the latest of its campaign: its day, its state and why, nothing of another run
    assert "Blocked: inputs not ready" in blocked and f"Contacted no one: {reason}" in " ".join(blocked.split())


def test_the_campaign_page_charts_uplift_and_shows_variants_and_messages(
    browser: Any, live_ui: LiveUI, browser_warehouse: str, campaign: str
) -> None:
    from selenium.webdriver.common.by import By

    sent_runs, variants = _treatment_by_variant(browser_warehouse, campaign)
    _login(browser, live_ui, "admin")
    html = _open_page(browser, live_ui, f"/campaigns/{campaign}", 'div[data-testid="messages"]')
    marks = browser.find_elements(By.CSS_SELECTOR, "svg.chart g.mark")
    assert len(marks) == sent_runs > 0, "one uplift mark per run that sent messages"
    for variant, members in variants.items():
        row = browser.find_element(By.CSS_SELECTOR, f'table[data-testid="variants"] tr[data-variant="{variant}"]').text
        assert re.search(rf"\d+ / {members:,} ", row), (variant, members, row)
    assert EMAIL_PATTERN.search(html), "admin sees the recipients' addresses"
    _check_audience_composition(browser, browser_warehouse, campaign)
    _full_page_screenshot(browser, f"02-campaign-{campaign}-admin.png")


def _check_audience_composition(browser: Any, url: str, campaign: str) -> None:
    """The composition tables say what `run_composition` computes for the newest selected run."""
    from selenium.webdriver.common.by import By

    from marketflow.audiences.composition import run_composition
    from marketflow.ui.campaign_report import latest_selected_run
    from marketflow.warehouse import warehouse_engine

    with warehouse_engine(url).connect() as conn:
        composition = run_composition(conn, latest_selected_run(conn, campaign))
    assert composition is not None and composition.eligible > 0
    for dimension, groups in (("country", composition.by_country), ("segment", composition.by_segment)):
        table = browser.find_element(By.CSS_SELECTOR, f'table[data-testid="audience-composition"][data-dimension="{dimension}"]')
        biggest = max(groups, key=lambda group: group.eligible)
        cells = table.find_element(By.CSS_SELECTOR, f'tr[data-group="{biggest.name}"]').find_elements(By.CSS_SELECTOR, "td")
        assert [cell.text for cell in cells[1:3]] == [f"{biggest.eligible:,}", f"{biggest.audience:,}"], (dimension, biggest)


def _stored_audience(url: str, campaign: str) -> tuple[dt.date, int]:
    """The campaign's newest run's day and how many customers matched its rules (every arm)."""
    from sqlalchemy import func, select

    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import audience_members, campaign_runs

    with warehouse_engine(url).connect() as conn:
        run_key, day = conn.execute(
            select(campaign_runs.c.run_key, campaign_runs.c.run_day)
            .where(campaign_runs.c.campaign == campaign, campaign_runs.c.status != "blocked")
            .order_by(campaign_runs.c.run_day.desc())
            .limit(1)
        ).one()
        matched = conn.execute(select(func.count()).where(audience_members.c.run_key == run_key)).scalar_one()
    return day, int(matched)


def test_a_campaign_is_previewed_in_the_browser_without_storing_or_sending(
    browser: Any, live_ui: LiveUI, browser_warehouse: str, campaign: str
) -> None:
    from selenium.webdriver.common.by import By
    from sqlalchemy import func, select

    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import audience_members, campaign_runs, messages

    def counts() -> tuple[int, ...]:
        with warehouse_engine(browser_warehouse).connect() as conn:
            return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                         for t in (campaign_runs, audience_members, messages))

    day, matched = _stored_audience(browser_warehouse, campaign)
    before = counts()
    _login(browser, live_ui, "admin")
    _open_page(browser, live_ui, f"/campaigns/{campaign}", 'a[data-testid="preview-link"]')
    browser.find_element(By.CSS_SELECTOR, 'a[data-testid="preview-link"]').click()
    field = _wait(browser, _present('form[data-testid="preview-form"] input[name="day"]'), "the preview form")
    browser.execute_script("arguments[0].value = arguments[1]", field, day.isoformat())
    browser.find_element(By.CSS_SELECTOR, 'form[data-testid="preview-form"] button').click()
    _wait(browser, lambda d: f"day={day}" in d.current_url, "the preview of the chosen day")
    _wait(browser, _present('div[data-testid="preview-messages"]'), "the previewed e-mails")
    summary = browser.find_element(By.CSS_SELECTOR, 'section[data-testid="preview-summary"]').text.upper()
    # the rules are point in time: the same customers match as when the run of that day stored its audience
    assert f"MATCHED THE RULES\n{matched:,}" in summary, (matched, summary)
    assert 0 < len(browser.find_elements(By.CSS_SELECTOR, "div[data-testid=preview-messages] iframe")) <= 3
    _full_page_screenshot(browser, f"08-preview-{campaign}-admin.png")
    assert counts() == before, "a preview stores nothing"
    past_the_data = day + dt.timedelta(days=400)
    _open_page(browser, live_ui, f"/campaigns/{campaign}/preview?day={past_the_data}", 'div[data-testid="preview-blocked"]')
    text = browser.find_element(By.CSS_SELECTOR, 'div[data-testid="preview-blocked"]').text
    assert f"A run of {past_the_data} would be blocked and contact no one." in text and "orders" in text
    _full_page_screenshot(browser, f"09-preview-{campaign}-blocked.png")
    _login(browser, live_ui, "viewer")
    html = _open_page(browser, live_ui, f"/campaigns/{campaign}/preview?day={day}", 'div[data-testid="preview-messages"]')
    assert EMAIL_PATTERN.search(html) is None and TOKEN_PATTERN.search(html) is None
    recipients = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".recipient")]
    assert recipients and all(re.fullmatch(r"cust-[0-9a-f]{10}", r) for r in recipients), recipients
    assert counts() == before


def test_a_blocked_run_says_why_on_its_campaign_page(
    browser: Any, live_ui: LiveUI, blocked_campaign: tuple[str, str]
) -> None:
    from selenium.webdriver.common.by import By

    name, reason = blocked_campaign
    for username in ("admin", "viewer"):
        _login(browser, live_ui, username)
        _open_page(browser, live_ui, f"/campaigns/{name}", 'div[data-testid="blocked-reason"]')
        text = " ".join(browser.find_element(By.CSS_SELECTOR, 'div[data-testid="blocked-reason"]').text.split())
        assert "was blocked and contacted no one." in text and reason in text
        _full_page_screenshot(browser, f"10-campaign-{name}-blocked-{username}.png")


def test_a_viewer_sees_no_email_address_anywhere(browser: Any, live_ui: LiveUI, campaign: str) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, live_ui, "viewer")
    for path, ready in [("/", "table"), ("/models", "table"), ("/data-quality", "table"), ("/data-quality?show=problems", "ul.legend")]:
        html = _open_page(browser, live_ui, path, ready)
        assert EMAIL_PATTERN.search(html) is None and TOKEN_PATTERN.search(html) is None, path
    html = _open_page(browser, live_ui, f"/campaigns/{campaign}", 'div[data-testid="messages"]')
    assert EMAIL_PATTERN.search(html) is None
    recipients = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".recipient")]
    assert recipients and all(re.fullmatch(r"cust-[0-9a-f]{10}", r) for r in recipients), recipients
    _full_page_screenshot(browser, f"03-campaign-{campaign}-viewer.png")


def test_the_models_page_gives_each_champion_a_verdict_and_one_chart(
    browser: Any, live_ui: LiveUI, browser_warehouse: str
) -> None:
    from selenium.webdriver.common.by import By
    from sqlalchemy import select

    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import model_registry

    registry = model_registry.c
    with warehouse_engine(browser_warehouse).connect() as conn:
        rows = conn.execute(select(registry.model_kind, registry.model_id, registry.status, registry.metrics)).all()
    champions = {kind: (model_id, metrics) for kind, model_id, status, metrics in rows if status == "champion"}
    assert set(champions) == {"recommender", "propensity"}, rows
    headline = {
        "recommender": lambda m: (m["all"]["ndcg@10"], m["popularity_baseline"]["all"]["ndcg@10"]),
        "propensity": lambda m: (m["calibration_auc"], m["recency_baseline_auc"]),
    }
    _login(browser, live_ui, "viewer")
    _open_page(browser, live_ui, "/models", "svg.chart")
    for kind, (model_id, metrics) in champions.items():
        assert browser.find_element(By.CSS_SELECTOR, f'[data-testid="champion-{kind}"]').text == model_id
        value, baseline = headline[kind](metrics)
        verdict = browser.find_element(By.CSS_SELECTOR, f'[data-testid="verdict-{kind}"]').text
        assert f"scores {value:.3f} on" in verdict and f"({baseline:.3f})" in verdict, verdict
        assert ("better than" if value > baseline else "worse than") in verdict.split("and")[-1], verdict
        section = browser.find_element(By.CSS_SELECTOR, f'section[data-kind="{kind}"]')
        versions = section.find_elements(By.CSS_SELECTOR, f'table[data-testid="versions-{kind}"] tbody tr')
        assert len(versions) == sum(1 for k, *_ in rows if k == kind)
        assert len(section.find_elements(By.CSS_SELECTOR, "svg.chart")) == 1, "one chart: the headline metric"
        assert len(section.find_elements(By.CSS_SELECTOR, "svg.chart g.mark.champion")) == 1
    from marketflow.recommend.exposure import served_exposure

    serving = champions["recommender"][0]
    with warehouse_engine(browser_warehouse).connect() as conn:
        served = served_exposure(conn, serving)
    assert served is not None and served.customers > 100, "the demo's champion served lists"
    shown = browser.find_elements(By.CSS_SELECTOR, 'table[data-testid="exposure"] tbody tr')
    assert shown and shown[0].get_attribute("data-model") == serving
    assert f"{100 * served.coverage:.1f} %" in shown[0].text and f"{served.gini:.3f}" in shown[0].text, shown[0].text
    by_segment = champions["recommender"][1]["by_group"]["segment"]
    assert by_segment, "the demo's champion was judged per segment"
    segment, figures = max(by_segment.items(), key=lambda item: item[1]["customers"])
    row = browser.find_element(By.CSS_SELECTOR, f'table[data-testid="quality-by-group"] tr[data-dimension="segment"][data-group="{segment}"]')
    assert f"{figures['ndcg@10']:.3f}" in row.text and f"{figures['customers']:,}" in row.text, row.text
    _full_page_screenshot(browser, "04-models.png")


def test_the_data_quality_page_has_a_row_per_day_and_a_filter_for_problems(
    browser: Any, live_ui: LiveUI, browser_warehouse: str
) -> None:
    from selenium.webdriver.common.by import By
    from sqlalchemy import func, select

    from marketflow.ui.quality_report import QUARANTINE_ALERT_SHARE
    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import ingest_days, quarantine

    d = ingest_days.c
    with warehouse_engine(browser_warehouse).connect() as conn:
        files = conn.execute(select(d.file_date, d.status, d.rows_read, d.rows_quarantined, d.validation_success)).all()
    quarantined = sum(f.rows_quarantined or 0 for f in files)
    calendar = {f.file_date for f in files}
    problems = {
        f.file_date for f in files
        if f.status == "failed"
        or (f.rows_read and (f.rows_quarantined or 0) / f.rows_read >= QUARANTINE_ALERT_SHARE)
        or (f.validation_success is False and not f.rows_quarantined)
    }
    assert len(calendar) < len(files), "the demo ingests order and CRM files: more files than days"
    assert quarantined > 0
    _login(browser, live_ui, "viewer")
    _open_page(browser, live_ui, "/data-quality", 'table[data-testid="days"]')
    days = browser.find_elements(By.CSS_SELECTOR, 'table[data-testid="days"] tbody tr')
    assert len(days) == len(calendar)
    summary = browser.find_element(By.CSS_SELECTOR, 'section[data-testid="quality-summary"]').text.upper()
    assert f"DAYS INGESTED\n{len(calendar):,}" in summary and f"ROWS QUARANTINED\n{quarantined:,}" in summary
    legend = browser.find_element(By.CSS_SELECTOR, 'ul[data-testid="legend"]').text
    assert all(word in legend for word in ("Refused", "Quarantined", "Clean", "No trading")), legend
    # the newest orders day with quarantined lines names the rules those lines broke
    q = quarantine.c
    with warehouse_engine(browser_warehouse).connect() as conn:
        day = conn.execute(select(func.max(q.file_date)).where(q.file_kind == "orders")).scalar_one()
        reasons = conn.execute(select(q.reason).where(q.file_kind == "orders", q.file_date == day)).scalars().all()
    rules = {part.split(":")[0] for reason in reasons for part in reason.split("; ")} - {"unparseable"}
    row = browser.find_element(By.CSS_SELECTOR, f'table[data-testid="days"] tr[data-day="{day}"]').text
    assert rules and all(rule in row for rule in rules), (rules, row)
    _full_page_screenshot(browser, "05-data-quality.png")
    browser.find_element(By.CSS_SELECTOR, 'a[data-testid="problems-only"]').click()
    _wait(browser, lambda drv: "show=problems" in drv.current_url, "the problems filter")
    shown = {
        row.get_attribute("data-day"): row.get_attribute("data-outcome")
        for row in browser.find_elements(By.CSS_SELECTOR, 'table[data-testid="days"] tbody tr')
    }
    assert set(shown) == {day.isoformat() for day in problems}, (sorted(shown), sorted(problems))
    assert set(shown.values()) <= {"refused", "quarantined"}
    _full_page_screenshot(browser, "05b-data-quality-problems.png")


@pytest.mark.parametrize("username", ["admin", "viewer"])
def test_every_page_renders_for_admin_and_viewer(
    browser: Any, live_ui: LiveUI, campaign: str, blocked_campaign: tuple[str, str], username: str
) -> None:
    """Each page, as each role, with a screenshot: no error page, the header says who is looking,
    and only the admin sees addresses."""
    from selenium.webdriver.common.by import By

    pages = {
        "campaigns": ("/", 'table[data-testid="campaigns"]'),
        "campaign": (f"/campaigns/{campaign}", 'table[data-testid="runs"]'),
        "blocked-campaign": (f"/campaigns/{blocked_campaign[0]}", 'div[data-testid="blocked-reason"]'),
        "preview": (f"/campaigns/{campaign}/preview", 'form[data-testid="preview-form"]'),
        "models": ("/models", "svg.chart"),
        "data-quality": ("/data-quality", 'table[data-testid="days"]'),
        "data-quality-problems": ("/data-quality?show=problems", 'ul[data-testid="legend"]'),
    }
    _login(browser, live_ui, username)
    for index, (name, (path, ready)) in enumerate(pages.items()):
        html = _open_page(browser, live_ui, path, ready)
        who = browser.find_element(By.CSS_SELECTOR, '[data-testid="who"]').text
        assert who.startswith(username) and ("masked" in who) == (username == "viewer"), (name, who)
        if username == "viewer":
            assert EMAIL_PATTERN.search(html) is None and TOKEN_PATTERN.search(html) is None, name
        _full_page_screenshot(browser, f"11-{index}-{name}-{username}.png")


def _pipeline_dags() -> dict[str, str]:
    """dag_id -> doc_md of every DAG the files in dags/ define (the set grows as DAGs land)."""
    from tests.airflow_runner import dag_bag

    return {dag_id: dag.doc_md or "" for dag_id, dag in sorted(dag_bag().dags.items())}


def _doc_snippet(doc_md: str) -> str:
    """The first words of the docs' first line, as the rendered markdown shows them."""
    for line in doc_md.strip().splitlines():
        text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line.lstrip("#>-* ").replace("`", "").replace("**", ""))
        if text.strip():
            return " ".join(text.split()[:3])
    return ""


def test_the_dag_list_shows_the_pipeline_dags_with_their_docs(browser: Any, live_ui: LiveUI) -> None:
    from selenium.webdriver.common.by import By

    dags = _pipeline_dags()
    if not dags:
        pytest.skip("dags/ defines no DAG yet")
    _login(browser, live_ui, "viewer")
    browser.get(f"{live_ui.base}/dags")
    _wait(browser, lambda d: all(dag_id in d.find_element(By.TAG_NAME, "body").text for dag_id in dags), "every DAG")
    browser.save_screenshot(str(ARTIFACTS / "06-dag-list.png"))
    for index, (dag_id, doc_md) in enumerate(dags.items()):
        browser.get(f"{live_ui.base}/dags/{dag_id}")
        _wait(browser, _present("button[aria-label='Dag Docs']"), f"{dag_id}'s docs button").click()
        dialog = _wait(browser, _present("[role='dialog'][aria-modal='true']"), f"{dag_id}'s docs")
        snippet = _doc_snippet(doc_md)
        _wait(browser, lambda d: snippet in " ".join(dialog.text.split()), f"{dag_id}'s docs to show {snippet!r}")
        if index == 0:
            browser.save_screenshot(str(ARTIFACTS / f"07-dag-docs-{dag_id}.png"))


def _api(ui: LiveUI, path: str, username: str = "admin") -> Any:
    import urllib.request

    login = urllib.request.Request(
        f"{ui.base}/auth/token",
        data=json.dumps({"username": username, "password": ui.passwords[username]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=30) as response:
        token = json.load(response)["access_token"]
    request = urllib.request.Request(f"{ui.base}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_the_home_page_shows_every_component_healthy_and_the_demos_logs_are_readable(
    browser: Any, live_ui: LiveUI, demo_run: DemoRun
) -> None:
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    health = _api(live_ui, "/api/v2/monitor/health")
    assert {name: health[name]["status"] for name in ("metadatabase", "scheduler", "dag_processor", "triggerer")} == {
        name: "healthy" for name in ("metadatabase", "scheduler", "dag_processor", "triggerer")
    }
    _login(browser, live_ui, "admin")
    browser.get(f"{live_ui.base}/")
    _wait(browser, lambda d: "Scheduler" in d.find_element(By.TAG_NAME, "body").text, "the health panel")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Unhealthy" not in body, body[:2000]
    browser.save_screenshot(str(ARTIFACTS / "00-home-health.png"))
    ingest = [run for run in demo_run.runs() if run["dag_id"] == "ingest_orders"][-1]
    path = f"/api/v2/dags/ingest_orders/dagRuns/{quote(ingest['run_id'])}/taskInstances/validate_and_load_orders/logs/1"
    content = _api(live_ui, path)["content"]
    text = "\n".join(str(part.get("event", "")) if isinstance(part, dict) else str(part) for part in content)
    assert f"{ingest['days'][0]}.csv" in text and "rows_loaded" in text, text[-2000:]
    assert "Could not read served logs" not in text
