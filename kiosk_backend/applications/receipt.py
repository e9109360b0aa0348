"""The progress receipt (办件进度回执) as printable blocks, for core/printing (80 mm thermal PNG,
A4 PNG or PDF), in the kiosk screen's language.

It is made from applications.progress.view only, so it carries what every surface shows and
nothing more: the masked applicant (UX.md: a receipt never carries a full ID number or
phone number), the state and deadline in words, the next step, the newest events of the
timeline, and a QR code to the application's phone page.
"""
from __future__ import annotations

from datetime import datetime

from ..core.clock import LOCAL_TZ
from ..core.i18n import translate
from ..core.printing import Block

RECENT_EVENTS = 5  # the newest events printed; the phone page has the whole timeline
RUNNING = ("deadline.remaining", "deadline.due_today", "deadline.overdue")


def _time(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def deadline_words(view: dict, lang: str) -> str:
    """剩余 N 个工作日 / 今天到期 / 已超期 N 天 / 计时暂停 …, with the date when there is one."""
    deadline = view["deadline"]
    words = translate(deadline["key"], lang, count=deadline["count"])
    # The date only while the clock runs: during a pause it moves every working day.
    if deadline["deadline"] is not None and deadline["key"] in RUNNING:
        words = translate("progress.deadline_on", lang, date=deadline["deadline"].isoformat(), words=words)
    return words


def state_words(view: dict, lang: str) -> str:
    words = translate(view["state_key"], lang)
    if view.get("outcome_key"):
        words = translate("progress.state_outcome", lang, state=words, outcome=translate(view["outcome_key"], lang))
    return words


def event_details(event: dict, lang: str) -> list[str]:
    """What an event says besides its action: outcome, delivery, reason, missing materials, note."""
    lines = []
    if event.get("outcome"):
        lines.append(translate(f"application.outcome.{event['outcome']}", lang))
    if event.get("delivery"):
        lines.append(translate(f"application.delivery.{event['delivery']}", lang))
    if event.get("reason"):
        lines.append(translate("progress.event.reason", lang, reason=event["reason"]))
    if event.get("missing"):
        separator = ", " if lang == "en" else "、"
        lines.append(translate("progress.event.missing", lang, missing=separator.join(event["missing"])))
    if event.get("note"):
        lines.append(event["note"])
    return lines


def applicant_words(view: dict) -> str:
    """The masked name with the masked ID number (or, without one, the masked phone)."""
    second = view.get("applicant_id") or view.get("applicant_phone") or ""
    return f"{view['applicant_name']}  {second}".strip()


def receipt_blocks(view: dict, *, lang: str, phone_url: str, kiosk_number: str, printed_at: datetime,
                   events: int = RECENT_EVENTS) -> list[Block]:
    """Blocks of the receipt of one application (``progress.view`` with its timeline)."""

    def t(key: str, **params) -> str:
        return translate(key, lang, **params)

    b: list[Block] = [Block("title", t("progress.receipt.title"))]
    b.append(Block("kv", view["item_name"], label=t("progress.field.item")))
    b.append(Block("kv", view["number"], label=t("progress.field.number")))
    b.append(Block("kv", state_words(view, lang), label=t("progress.field.state")))
    if not view["finished"]:  # a finished one: its state says it
        b.append(Block("kv", deadline_words(view, lang), label=t("progress.field.deadline")))
    b.append(Block("kv", t(view["next_step_key"]), label=t("progress.field.next")))
    for material in view["missing"]:
        b.append(Block("check", material))
    mode = t(view["mode_key"])
    if view["cross_province"]:
        mode = f"{mode} · {t('item.cross_province')}"
    b.append(Block("kv", mode, label=t("progress.field.mode")))
    b.append(Block("kv", view["receiving_org"], label=t("progress.field.receiving")))
    b.append(Block("kv", view["handling_org"], label=t("progress.field.handling")))
    b.append(Block("kv", applicant_words(view), label=t("progress.field.applicant")))

    timeline = list(reversed(view.get("timeline") or []))
    if timeline:
        b.append(Block("heading", t("progress.receipt.recent")))
        for event in timeline[:events]:
            head = f"{_time(event['occurred_at'])}  {t(event['action_key'])}"
            lines = [head, *event_details(event, lang), event["actor_name"]]
            b.append(Block("bullet", "\n".join(line for line in lines if line)))
        if len(timeline) > events:
            b.append(Block("small", t("progress.receipt.more", n=len(timeline) - events)))

    b.append(Block("rule"))
    b.append(Block("qr", t("progress.receipt.qr"), payload=phone_url))
    b.append(Block("small", t("progress.receipt.printed", time=_time(printed_at), kiosk=kiosk_number)))
    b.append(Block("small", t("progress.receipt.masked")))
    return b
