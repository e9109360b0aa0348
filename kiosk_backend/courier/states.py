"""Normalised parcel states and how tracking events may move a booking (pure).

DOMAIN.md ("Courier"): 待揽收, 已收寄, 运输中, 派送中, 已签收, 投递失败, 待自取, 退回, 已取消, 异常; the
carrier's own code and text are kept beside the normalised state.

Tracking events arrive late, twice and out of order (a push and a poll crossing; a carrier
replaying a day). :func:`next_status` decides whether an event moves the parcel: an event
never moves it backwards along the journey (:data:`RANK`); a final state (signed for,
returned, cancelled) stays final; 投递失败 and 异常 are detours that a later forward event
ends. Every event is still kept on the timeline, moving or not.
"""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING_PICKUP = "pending_pickup"            # 待揽收
    ACCEPTED = "accepted"                        # 已收寄 (揽收)
    IN_TRANSIT = "in_transit"                    # 运输中
    OUT_FOR_DELIVERY = "out_for_delivery"        # 派送中
    DELIVERED = "delivered"                      # 已签收
    FAILED_DELIVERY = "failed_delivery"          # 投递失败
    AWAITING_COLLECTION = "awaiting_collection"  # 待自取 (驿站, 投递支局)
    RETURNED = "returned"                        # 退回
    CANCELLED = "cancelled"                      # 已取消
    EXCEPTION = "exception"                      # 异常 (破损, 滞留, 地址不详 …)


class Purpose(StrEnum):
    MATERIALS_TO_AUTHORITY = "materials_to_authority"  # 邮寄材料: the receiving window → the handling authority
    RESULT_TO_APPLICANT = "result_to_applicant"        # 结果寄回家: the authority → the resident
    STANDALONE = "standalone"                          # a booking of its own


class ItemType(StrEnum):
    LICENCE = "licence"      # 证照
    MATERIALS = "materials"  # 材料


class Payer(StrEnum):
    GOVERNMENT = "government"  # 政府付费 (省内通办 often)
    RECIPIENT = "recipient"    # 到付
    SENDER = "sender"          # 寄付


class PickupMode(StrEnum):
    COUNTER = "counter"  # handed in at the site's counter
    HOME = "home"        # 上门揽收


class OrderState(StrEnum):
    """Where our order stands at the carrier (separate from the parcel's journey)."""

    PENDING = "pending"      # saved; the outbox will place it
    PLACED = "placed"        # the carrier took it (waybill number known, or to come by push)
    FAILED = "failed"        # the carrier refused it for good (bad address, out of area): see last_error
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


# Position along the journey; detours share the position they happen at.
RANK = {
    Status.PENDING_PICKUP: 0,
    Status.ACCEPTED: 1,
    Status.IN_TRANSIT: 2,
    Status.EXCEPTION: 2,
    Status.OUT_FOR_DELIVERY: 3,
    Status.FAILED_DELIVERY: 3,
    Status.AWAITING_COLLECTION: 4,
    Status.DELIVERED: 5,
    Status.RETURNED: 5,
    Status.CANCELLED: 5,
}
FINAL = frozenset({Status.DELIVERED, Status.RETURNED, Status.CANCELLED})
DETOURS = frozenset({Status.EXCEPTION, Status.FAILED_DELIVERY})
# A booking may be cancelled by the resident only before the carrier picked the parcel up.
CANCELLABLE = frozenset({Status.PENDING_PICKUP})
# The moments a resident hears about by SMS (issue: 揽收, 派送中, 签收).
NOTIFIED = frozenset({Status.ACCEPTED, Status.OUT_FOR_DELIVERY, Status.DELIVERED})
# For the console's "exceptions" filter.
TROUBLE = frozenset({Status.FAILED_DELIVERY, Status.RETURNED, Status.EXCEPTION})


def next_status(current: Status | str, incoming: Status | str) -> Status | None:
    """The status a booking in ``current`` takes on an event saying ``incoming``, or None when
    the event is only recorded (older news, or the parcel is already further along).

    - final states stay (a late 运输中 after 已签收 changes nothing);
    - the same status again changes nothing;
    - a detour (投递失败, 异常) applies whenever the parcel is under way (the service has
      already set aside events older than the newest one applied);
    - after a detour, an event at the same position or further ends it (派送中 again after
      投递失败: a second attempt);
    - otherwise only a move forward applies. 退回 applies from anywhere before the end, and
      已取消 only before pickup (the carrier's own cancellation of an order not yet collected).
    """
    current, incoming = Status(current), Status(incoming)
    if current in FINAL or incoming == current:
        return None
    if incoming == Status.CANCELLED:
        return incoming if current == Status.PENDING_PICKUP else None
    if incoming == Status.RETURNED:
        return incoming
    if incoming in DETOURS:
        return incoming
    if current in DETOURS:
        return incoming if RANK[incoming] >= RANK[current] else None
    return incoming if RANK[incoming] > RANK[current] else None
