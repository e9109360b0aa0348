"""The admin console with a kiosk screen beside it: an administrator sees the fleet, opens a
kiosk and puts it into maintenance; the kiosk's screen follows at its next heartbeat and
sends residents to the nearest open site; ending maintenance brings the home screen back.

And axe-core on every console page: no serious or critical violations.

The kiosk beats 1 s after a page loads and then every 30 s. Its page runs on Playwright's
fake clock, so the test moves 31 s at once instead of waiting.
"""
from __future__ import annotations

import re

import pytest

from .browser_support import OPEN_SITE, POST_OFFICE, enrol, ensure_site, expect
from .test_accessibility import _blocking_violations

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1440, "height": 900}  # an office PC, not a kiosk
BEAT = re.compile(r"/api/v1/kiosk/heartbeat$")


def _log_in(page, live_server, account, path="/admin/"):
    page.goto(live_server(path))
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.get_by_label("用户名").fill(account["username"])
    page.get_by_label("密码").fill(account["password"])
    page.get_by_role("button", name="登录").click()


def _send(admin, label: str) -> None:
    admin.get_by_label("指令").select_option(label=label)
    admin.get_by_role("button", name="发送").click()
    expect(admin.get_by_role("status")).to_contain_text("已完成")


class Beats:
    """Counts the kiosk page's heartbeat answers, so a test knows a beat has happened."""

    def __init__(self, page):
        self.page = page
        self.answers = []
        page.on("response", lambda r: self.answers.append(r.status) if BEAT.search(r.url) else None)

    def wait_for(self, count: int, timeout_s: float = 10) -> None:
        for _ in range(int(timeout_s * 10)):
            if len(self.answers) >= count:
                assert set(self.answers) == {200}, self.answers
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"expected {count} heartbeats, saw {len(self.answers)}")


def test_maintenance_sent_from_the_console_reaches_the_kiosk_screen(new_page, live_server, kiosk_app, admin_account):
    from kiosk_backend.extensions import db

    kiosk = enrol(kiosk_app, POST_OFFICE)  # its own kiosk: nobody else's beats change its state
    with kiosk_app.app_context():
        ensure_site(db.session, **OPEN_SITE)
        db.session.commit()
        db.session.remove()

    screen = new_page(kiosk=kiosk)
    beats = Beats(screen)
    screen.clock.install()  # runs on its own until the test jumps 31 s ahead
    screen.goto(live_server("/kiosk/"))
    expect(screen.locator(".kiosk-number")).to_have_text(f"终端 {kiosk.number}")
    beats.wait_for(1)  # 1 s after loading: the admin console now sees the kiosk online

    admin = new_page(DESKTOP, kiosk=None)
    _log_in(admin, live_server, admin_account)
    expect(admin.get_by_role("heading", level=1)).to_have_text("终端总览")
    row = admin.get_by_role("row").filter(has=admin.get_by_role("link", name=kiosk.number, exact=True))
    expect(row).to_contain_text("在线")  # status in words, not colour alone
    expect(row).to_contain_text("邮政网点政务自助终端")  # the model's name, not its slug
    row.get_by_role("link", name=kiosk.number).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(f"终端 {kiosk.number} 在线")

    _send(admin, "进入维护（暂停服务）")
    expect(screen.locator("body")).to_have_class(re.compile(r"\bpage-home\b"))  # nothing happens before the next beat
    with screen.expect_navigation():
        screen.clock.run_for(31_000)  # the next beat brings the command; the kiosk acknowledges it and reloads
    expect(screen.locator("body")).to_have_class(re.compile(r"\bpage-maintenance\b"))
    expect(screen.get_by_role("heading", level=1)).to_have_text("暂停服务")
    nearest = screen.locator(".nearest")
    expect(nearest).to_contain_text(OPEN_SITE["name"])
    expect(nearest).to_contain_text(OPEN_SITE["address"])
    beats.wait_for(3)  # the maintenance screen beats too (and waits for the end of maintenance)
    # Every screen of this kiosk is paused, not just the one that was open.
    other = screen.request.get(live_server("/kiosk/search"))
    assert other.status == 503 and "暂停服务" in other.text()

    admin.reload()
    expect(admin.locator(".kv")).to_contain_text("维护中")
    expect(admin.get_by_role("row", name=re.compile("进入维护"))).to_contain_text("已执行")

    _send(admin, "结束维护")
    screen.clock.run_for(31_000)
    expect(screen.locator("body")).to_have_class(re.compile(r"\bpage-home\b"))
    expect(screen.locator(".kiosk-number")).to_have_text(f"终端 {kiosk.number}")
    expect(screen.get_by_role("link", name=re.compile("查找事项"))).to_be_visible()
    admin.reload()
    expect(admin.get_by_role("row", name=re.compile("结束维护"))).to_contain_text("已执行")


def test_the_console_pages_are_accessible(new_page, live_server, kiosk_app, kiosks, admin_account, axe,
                                          screenshot_dir):
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet import heartbeats
    from kiosk_backend.fleet.models import Kiosk
    from kiosk_backend.sites.models import Site

    # Something to show: kiosks in several states, one out of paper (an alert, "异常").
    shared = kiosks(POST_OFFICE)
    out_of_paper = enrol(kiosk_app, POST_OFFICE)
    enrol(kiosk_app, POST_OFFICE, authorized=False)
    with kiosk_app.app_context():
        heartbeats.record_heartbeat(db.session, db.session.get(Kiosk, out_of_paper.id), seq=1, app_version="1.0",
                                    profile=None, peripherals={"printer": "paper_out"}, session_active=False)
        site_id = db.session.query(Site.id).filter_by(code="JZ01").scalar()
        db.session.commit()
        db.session.remove()

    page = new_page(DESKTOP, kiosk=None)
    problems = []

    def check(name: str) -> None:
        page.screenshot(path=screenshot_dir / f"admin-{name}.png", full_page=True)
        problems.extend(f"{name}: {v}" for v in _blocking_violations(axe, page))

    page.goto(live_server("/admin/login"))
    check("login")
    page.get_by_label("用户名").fill(admin_account["username"])
    page.get_by_label("密码").fill("wrong password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("用户名")).to_have_value(admin_account["username"])  # only the password is retyped
    check("login-error")

    page.get_by_label("密码").fill(admin_account["password"])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("终端总览")
    paper_row = page.get_by_role("row").filter(has=page.get_by_role("link", name=out_of_paper.number, exact=True))
    expect(paper_row).to_contain_text("异常")
    expect(paper_row).to_contain_text("打印机：缺纸")
    check("fleet")

    page.goto(live_server(f"/admin/kiosks/{shared.id}"))
    expect(page.get_by_role("heading", name="远程指令")).to_be_visible()
    page.wait_for_selector(".chart .uplot, .chart:not(:empty)")
    check("kiosk")

    page.goto(live_server("/admin/sites"))
    check("sites")
    page.goto(live_server(f"/admin/sites/{site_id}"))
    page.get_by_role("button", name="生成激活码").click()
    expect(page.locator(".new-code .code")).to_have_text(re.compile(r"^[A-Z0-9]{5}-[A-Z0-9]{5}$"))
    check("site-new-code")
    page.reload()  # a GET page (post/redirect/get): reloading neither shows the code again nor makes another
    expect(page.get_by_role("button", name="生成激活码")).to_be_visible()
    expect(page.locator(".new-code")).to_have_count(0)

    page.goto(live_server("/admin/alerts"))
    expect(page.get_by_role("row", name=re.compile(out_of_paper.number))).to_contain_text("缺纸")
    check("alerts")

    page.goto(live_server("/admin/usage"))
    page.wait_for_selector(".chart .uplot, .chart:not(:empty)")
    check("usage")

    page.goto(live_server("/admin/audit"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check("audit")
    assert not problems, "\n".join(problems)


# uPlot draws its axes on a canvas: keep every chart the page makes, to read its ticks.
CAPTURE_CHARTS = """
window.__charts = [];
Object.defineProperty(window, "uPlot", {
  configurable: true,
  get() { return window.__uPlot; },
  set(real) {
    function Captured(opts, data, target) { const chart = new real(opts, data, target); window.__charts.push(chart); return chart; }
    Object.assign(Captured, real);
    window.__uPlot = Captured;
  },
});
"""

LAST_DAY_TICK = """() => {
  const chart = window.__charts[0];
  const axis = chart.axes[0];
  const days = chart.data[0];
  const last = days[days.length - 1];
  const at = (axis._splits || []).indexOf(last);
  if (at < 0 || !axis._values[at]) return {labelled: false, ticks: axis._values};
  const label = String(axis._values[at]);
  chart.ctx.font = axis.font[0];
  const right = chart.valToPos(last, "x", true) + chart.ctx.measureText(label).width / 2;
  return {labelled: true, label, fits: right <= chart.ctx.canvas.width, ticks: axis._values};
}"""


@pytest.mark.parametrize("days", [14, 30])
def test_the_usage_chart_labels_its_last_day(new_page, live_server, kiosk_app, kiosks, admin_account, days,
                                             screenshot_dir):
    from datetime import timedelta

    from kiosk_backend.core.clock import LOCAL_TZ, utcnow
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet import services
    from kiosk_backend.fleet.models import Kiosk

    shared = kiosks(POST_OFFICE)
    with kiosk_app.app_context():
        kiosk = db.session.get(Kiosk, shared.id)
        for back in (0, 1, 3, 6):
            services.record_usage(db.session, kiosk, "search", now=lambda back=back: utcnow() - timedelta(days=back))
        db.session.commit()
        db.session.remove()
    today = utcnow().astimezone(LOCAL_TZ).date()

    page = new_page(DESKTOP, kiosk=None)
    page.add_init_script(CAPTURE_CHARTS)
    _log_in(page, live_server, admin_account, path=f"/admin/usage?days={days}")
    page.wait_for_selector(".chart .uplot")
    page.locator(".chart").screenshot(path=screenshot_dir / f"admin-usage-chart-{days}-days.png")
    tick = page.evaluate(LAST_DAY_TICK)
    assert tick["labelled"], f"today ({today}) has no label; the axis shows {tick['ticks']}"
    assert f"{today.month}/{today.day}" in tick["label"] and tick["fits"], tick


def test_revoke_now_sends_the_kiosk_to_its_activation_screen_and_the_one_time_code_brings_it_back(
        new_page, live_server, kiosk_app, admin_account, screenshot_dir):
    kiosk = enrol(kiosk_app, POST_OFFICE)  # its own kiosk: the shared ones must keep working
    screen = new_page(kiosk=kiosk)
    beats = Beats(screen)
    screen.clock.install()
    screen.goto(live_server("/kiosk/"))
    expect(screen.locator(".kiosk-number")).to_have_text(f"终端 {kiosk.number}")
    beats.wait_for(1)

    admin = new_page(DESKTOP, kiosk=None)
    _log_in(admin, live_server, admin_account, path=f"/admin/kiosks/{kiosk.id}")
    button = admin.get_by_role("button", name="立即吊销凭证并重新激活")
    button.click()  # the confirmation box is not ticked: the form is not sent
    expect(admin.locator(".new-code")).to_have_count(0)
    admin.get_by_label(re.compile(f"我确认：终端 {kiosk.number} 将立即停止服务")).check()
    button.click()
    expect(admin.locator(".done")).to_contain_text("旧凭证已吊销")
    code_box = admin.locator(".new-code")
    expect(code_box).to_contain_text(kiosk.number)
    code = code_box.locator(".code").inner_text()
    expect(admin.locator(".kv")).to_contain_text("已吊销，等待重新激活")
    expect(admin.get_by_role("heading", level=1)).to_have_text(f"终端 {kiosk.number} 待重新激活")
    expect(admin.locator("main")).not_to_contain_text("<time")  # times read as times, not as markup
    admin.screenshot(path=screenshot_dir / "admin-kiosk-reenrol-code.png", full_page=True)
    admin.reload()
    expect(admin.locator(".new-code")).to_have_count(0)  # shown once

    # The kiosk's next heartbeat is refused: its screen goes to the activation form.
    with screen.expect_navigation():
        screen.clock.run_for(31_000)
    expect(screen).to_have_url(re.compile(r"/kiosk/activate$"))
    screen.get_by_label("激活码").fill(code)
    screen.get_by_label("设备型号").select_option(POST_OFFICE)
    screen.get_by_role("button", name="激活").click()
    expect(screen).to_have_url(re.compile(r"/kiosk/$"))
    expect(screen.locator(".kiosk-number")).to_have_text(f"终端 {kiosk.number}")  # the same kiosk
