"""The life cycle of an application (办件) as one pure transition table.

DOMAIN.md: 已接件 → 已受理 | 不予受理 → (补正 loop: 待补正 → 已补正) → 办理中 → (特别程序: the clock
stops, then resumes) → 办结 (准予 / 不予) → 结果送达 (窗口领取 | 邮寄 | 网络送达) → 已评价.

Departments (and staff) move an application with *actions*; each action is allowed from a
set of states and leads to one state. :func:`target_of` answers or raises
:class:`IllegalAction` naming what is allowed instead. In 已补正 what may follow depends on
whether the application had been accepted (受理) before the 补正 (:data:`BY_ACCEPTANCE`), so
both functions take ``accepted``. The service applies the move with
one conditional UPDATE (core.states.Lifecycle.advance), so two racing events cannot both
apply.

补正 (supplement): the receiving window may ask for missing materials before 受理 (the usual
case, 一次性告知) or while the application is being handled. Waiting for the applicant's
materials after 受理 stops the clock like 特别程序 does (the time the applicant takes is not the
authority's), so both are *pauses* of the deadline. Once the materials are in (已补正) the loop
goes back where it left: before 受理 the window decides whether to accept (受理, 不予受理, or
ask again); after 受理 the handling goes on (办理, 办结, or ask again), and neither a second
受理 nor 不予受理 is possible.

Pure: no Flask, no database.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..core.states import Lifecycle


class State(StrEnum):
    RECEIVED = "received"                          # 已接件
    ACCEPTED = "accepted"                          # 已受理
    NOT_ACCEPTED = "not_accepted"                  # 不予受理
    SUPPLEMENT_REQUESTED = "supplement_requested"  # 待补正
    SUPPLEMENTED = "supplemented"                  # 已补正
    IN_PROGRESS = "in_progress"                    # 办理中
    SPECIAL_PROCEDURE = "special_procedure"        # 特别程序（暂停计时）
    CONCLUDED = "concluded"                        # 办结（准予 / 不予）
    DELIVERED = "delivered"                        # 结果送达
    RATED = "rated"                                # 已评价


class Action(StrEnum):
    RECEIVE = "receive"                        # the application is created (接件)
    ACCEPT = "accept"                          # 受理
    REFUSE = "refuse"                          # 不予受理 (needs a reason)
    REQUEST_SUPPLEMENT = "request_supplement"  # 一次性告知补正 (needs the missing materials)
    SUPPLEMENT = "supplement"                  # the applicant handed in what was missing
    START = "start"                            # 开始办理 / 审查
    SUSPEND = "suspend"                        # 特别程序 starts: the clock stops (needs a reason)
    RESUME = "resume"                          # 特别程序 ends: the clock runs again
    CONCLUDE = "conclude"                      # 办结 (needs the outcome: approved / denied)
    DELIVER = "deliver"                        # 结果送达 (needs the method: window / post / online)
    RATE = "rate"                              # 已评价 (the ratings feature records it)


class Outcome(StrEnum):
    APPROVED = "approved"  # 准予
    DENIED = "denied"      # 不予


class Delivery(StrEnum):
    WINDOW = "window"  # 窗口领取
    POST = "post"      # 邮寄
    ONLINE = "online"  # 网络送达


class Mode(StrEnum):
    LOCAL = "local"      # 本地办理
    ONLINE = "online"    # 全程网办
    PROXY = "proxy"      # 异地代收代办 (收受分离)
    JOINT = "joint"      # 多地联办


@dataclass(frozen=True)
class Move:
    sources: frozenset[State]
    target: State
    requires: str | None = None  # the detail the event must carry (reason, missing, outcome, delivery)


S = State
MOVES: dict[Action, Move] = {
    Action.ACCEPT: Move(frozenset({S.RECEIVED, S.SUPPLEMENTED}), S.ACCEPTED),
    Action.REFUSE: Move(frozenset({S.RECEIVED, S.SUPPLEMENTED, S.SUPPLEMENT_REQUESTED}), S.NOT_ACCEPTED, "reason"),
    Action.REQUEST_SUPPLEMENT: Move(frozenset({S.RECEIVED, S.ACCEPTED, S.IN_PROGRESS, S.SUPPLEMENTED}),
                                    S.SUPPLEMENT_REQUESTED, "missing"),
    Action.SUPPLEMENT: Move(frozenset({S.SUPPLEMENT_REQUESTED}), S.SUPPLEMENTED),
    Action.START: Move(frozenset({S.ACCEPTED, S.SUPPLEMENTED}), S.IN_PROGRESS),
    Action.SUSPEND: Move(frozenset({S.IN_PROGRESS}), S.SPECIAL_PROCEDURE, "reason"),
    Action.RESUME: Move(frozenset({S.SPECIAL_PROCEDURE}), S.IN_PROGRESS),
    # 即办件 are concluded straight after 受理; an accepted application whose 补正 never comes
    # is concluded (不予许可) from 待补正.
    Action.CONCLUDE: Move(frozenset({S.ACCEPTED, S.IN_PROGRESS, S.SUPPLEMENTED, S.SUPPLEMENT_REQUESTED}),
                          S.CONCLUDED, "outcome"),
    Action.DELIVER: Move(frozenset({S.CONCLUDED}), S.DELIVERED, "delivery"),
    Action.RATE: Move(frozenset({S.CONCLUDED, S.DELIVERED}), S.RATED),
}

# Moves legal only before 受理 (False) or only after it (True); the rest of MOVES does not
# depend on it. 已补正 returns to where the 补正 loop began (see the module docstring).
BY_ACCEPTANCE: dict[tuple[State, Action], bool] = {
    (S.SUPPLEMENTED, Action.ACCEPT): False,
    (S.SUPPLEMENTED, Action.REFUSE): False,
    (S.SUPPLEMENTED, Action.START): True,
    (S.SUPPLEMENTED, Action.CONCLUDE): True,
    # Waiting for 补正: before 受理 the way out is 不予受理, after it 办结 (不予).
    (S.SUPPLEMENT_REQUESTED, Action.REFUSE): False,
    (S.SUPPLEMENT_REQUESTED, Action.CONCLUDE): True,
}

# The table for core.states.Lifecycle.advance: every state and the states it may reach
# (accepted or not: the services check BY_ACCEPTANCE through target_of).
LIFECYCLE = Lifecycle("application", {
    state: {move.target for move in MOVES.values() if state in move.sources} for state in State
})

# Still with the authority: the deadline matters (overdue lists, 剩余 N 个工作日).
OPEN = frozenset({S.RECEIVED, S.ACCEPTED, S.SUPPLEMENT_REQUESTED, S.SUPPLEMENTED, S.IN_PROGRESS,
                  S.SPECIAL_PROCEDURE})
FINISHED = frozenset({S.NOT_ACCEPTED, S.CONCLUDED, S.DELIVERED, S.RATED})
# The clock runs from 受理 and stops in these states (see the module docstring).
PAUSED = frozenset({S.SPECIAL_PROCEDURE, S.SUPPLEMENT_REQUESTED})
# Before 受理 there is no deadline yet.
NOT_YET_ACCEPTED = frozenset({S.RECEIVED})


class IllegalAction(ValueError):
    """``action`` is not allowed in ``state``; ``allowed`` lists the actions that are."""

    def __init__(self, state: State, action: Action, accepted: bool = False) -> None:
        self.state, self.action, self.accepted = state, action, accepted
        self.allowed = allowed_actions(state, accepted=accepted)
        when = (" (accepted)" if accepted else " (not yet accepted)") if depends_on_acceptance(state) else ""
        super().__init__(f"{action} is not allowed when the application is {state}{when}")


def depends_on_acceptance(state: State | str) -> bool:
    """Whether what ``state`` allows depends on 受理 (BY_ACCEPTANCE names such a state)."""
    return any(source == state for source, _action in BY_ACCEPTANCE)


def _legal(state: State, action: Action, accepted: bool) -> bool:
    move = MOVES.get(action)
    return move is not None and state in move.sources and BY_ACCEPTANCE.get((state, action), accepted) == accepted


def allowed_actions(state: State | str, *, accepted: bool = False) -> list[Action]:
    """The actions allowed in ``state``; ``accepted``: whether the application was accepted
    (受理) before (it matters in 已补正 only)."""
    state = State(state)
    return [action for action in MOVES if _legal(state, action, accepted)]


def target_of(state: State | str, action: Action | str, *, accepted: bool = False) -> State:
    """The state ``action`` leads to from ``state`` for an application that was (``accepted``)
    or was not yet accepted (受理); raises IllegalAction (or ValueError for an unknown state
    or action name)."""
    state, action = State(state), Action(action)
    if not _legal(state, action, accepted):
        raise IllegalAction(state, action, accepted)
    return MOVES[action].target


def requirement(action: Action | str) -> str | None:
    move = MOVES.get(Action(action))
    return move.requires if move else None
