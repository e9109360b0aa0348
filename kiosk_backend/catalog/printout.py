"""The guide as printable blocks, in the display order of DOMAIN.md."""
from __future__ import annotations

from ..core.printing import Block


def _days(day, unit) -> str:
    if day is None:
        return ""
    return "即办" if day == 0 else f"{day} 个{unit or '工作日'}"


def guide_blocks(guide: dict, *, phone_url: str) -> list[Block]:
    """Blocks for the printed guide; the QR code opens the same guide on a phone."""
    b: list[Block] = [Block("title", guide["task_name"]), Block("small", f"实施编码 {guide['task_code']}")]

    b.append(Block("heading", "基本信息"))
    b.append(Block("kv", guide["dept_name"], label="实施主体"))
    b.append(Block("kv", guide["task_type_name"], label="事项类型"))
    if guide.get("server_type"):
        b.append(Block("kv", "、".join(guide["server_type"]), label="服务对象"))
    if guide.get("handle_area"):
        b.append(Block("kv", guide["handle_area"], label="通办范围"))

    if guide.get("transact_addr") or guide.get("transact_time"):
        b.append(Block("heading", "办理地点和时间"))
        if guide.get("transact_addr"):
            b.append(Block("kv", guide["transact_addr"], label="地点"))
        if guide.get("transact_time"):
            b.append(Block("kv", guide["transact_time"], label="时间"))

    if guide.get("accept_condition"):
        b.append(Block("heading", "申请条件"))
        b.append(Block("text", guide["accept_condition"]))

    if guide.get("materials"):
        b.append(Block("heading", "申请材料（请逐项核对）"))
        for m in guide["materials"]:
            detail = "，".join(x for x in (m.get("necessity"), m.get("type"), m.get("form"),
                                          f"{m['paper_copies']} 份" if m.get("paper_copies") else None) if x)
            b.append(Block("check", f"{m['name']}（{detail}）" if detail else m["name"]))

    if guide.get("handle_flow"):
        b.append(Block("heading", "办理流程"))
        for step in guide["handle_flow"].splitlines():
            if step.strip():
                b.append(Block("text", step.strip()))

    promise = _days(guide.get("promise_day"), guide.get("promise_type"))
    legal = _days(guide.get("anticipate_day"), guide.get("anticipate_type"))
    if promise or legal:
        b.append(Block("heading", "办理时限"))
        if legal:
            b.append(Block("kv", legal, label="法定时限"))
        if promise:
            b.append(Block("kv", promise, label="承诺时限"))
        if guide.get("limit_scene_num") is not None:
            b.append(Block("kv", f"{guide['limit_scene_num']} 次", label="到现场次数"))

    b.append(Block("heading", "收费"))
    if guide.get("is_fee") and guide.get("fees"):
        for fee in guide["fees"]:
            b.append(Block("bullet", f"{fee['name']}：{fee.get('standard') or ''}".rstrip("：")))
    else:
        b.append(Block("text", "不收费"))

    if guide.get("by_law"):
        b.append(Block("heading", "设定依据"))
        b.append(Block("text", guide["by_law"]))

    if guide.get("link_way") or guide.get("supervise_way"):
        b.append(Block("heading", "咨询和投诉"))
        if guide.get("link_way"):
            b.append(Block("kv", guide["link_way"], label="咨询"))
        if guide.get("supervise_way"):
            b.append(Block("kv", guide["supervise_way"], label="投诉"))

    b.append(Block("rule"))
    b.append(Block("qr", "用手机扫码查看此办事指南", payload=phone_url))
    return b
