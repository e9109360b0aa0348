"""Catalog tables.

Guide sections that are read and written whole (materials, fees, FAQ) are JSON columns
validated by ``schemas.ItemImport``: the guide is a document, imported whole and shown
whole, and nothing queries single materials. Things people browse by (departments,
themes, bundles) are tables.
"""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.models import TimestampMixin
from ..extensions import db

item_theme = sa.Table(
    "catalog_item_theme",
    db.metadata,
    sa.Column("item_id", sa.ForeignKey("catalog_item.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("theme_id", sa.ForeignKey("catalog_theme.id", ondelete="CASCADE"), primary_key=True),
)


class Department(TimestampMixin, db.Model):
    """实施主体: the body that implements items."""

    __tablename__ = "catalog_department"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    code: Mapped[str | None] = mapped_column(sa.String(18))  # 统一社会信用代码

    def __repr__(self) -> str:
        return f"<Department {self.id} {self.name}>"


class Theme(db.Model):
    """A topic residents (自然人) or businesses (法人) browse by."""

    __tablename__ = "catalog_theme"
    __table_args__ = (sa.UniqueConstraint("audience", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    audience: Mapped[str] = mapped_column(sa.String(16))  # "natural" | "legal"
    name: Mapped[str] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<Theme {self.audience}:{self.name}>"


class Item(TimestampMixin, db.Model):
    """One service item with its guide, keyed by 实施编码 (task_code)."""

    __tablename__ = "catalog_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    task_name: Mapped[str] = mapped_column(sa.String(200))
    catalog_code: Mapped[str | None] = mapped_column(sa.String(12))
    task_type: Mapped[str] = mapped_column(sa.String(2))
    task_version: Mapped[str | None] = mapped_column(sa.String(32))
    task_state: Mapped[str] = mapped_column(sa.String(16), default="在用")

    department_id: Mapped[int] = mapped_column(sa.ForeignKey("catalog_department.id"), index=True)
    department: Mapped[Department] = relationship(lazy="joined")
    entrust_dept: Mapped[str | None] = mapped_column(sa.String(200))

    for_natural: Mapped[bool] = mapped_column(default=True)
    for_legal: Mapped[bool] = mapped_column(default=False)
    accept_condition: Mapped[str | None] = mapped_column(sa.Text)
    by_law: Mapped[str | None] = mapped_column(sa.Text)

    anticipate_day: Mapped[int | None]
    anticipate_type: Mapped[str | None] = mapped_column(sa.String(8))
    promise_day: Mapped[int | None]
    promise_type: Mapped[str | None] = mapped_column(sa.String(8))

    project_type: Mapped[str | None] = mapped_column(sa.String(8))
    handle_flow: Mapped[str | None] = mapped_column(sa.Text)
    special_procedure: Mapped[str | None] = mapped_column(sa.Text)
    limit_scene_num: Mapped[int | None]
    limit_scene_explain: Mapped[str | None] = mapped_column(sa.Text)

    is_fee: Mapped[bool] = mapped_column(default=False)
    fees: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)

    transact_addr: Mapped[str | None] = mapped_column(sa.Text)
    transact_time: Mapped[str | None] = mapped_column(sa.Text)
    link_way: Mapped[str | None] = mapped_column(sa.Text)
    supervise_way: Mapped[str | None] = mapped_column(sa.Text)

    is_online: Mapped[bool] = mapped_column(default=False)
    online_handle_depth: Mapped[str | None] = mapped_column(sa.String(4))
    is_express: Mapped[bool] = mapped_column(default=False)
    is_schedule: Mapped[bool] = mapped_column(default=False)
    is_service_terminals: Mapped[bool] = mapped_column(default=False)
    handle_area: Mapped[str | None] = mapped_column(sa.String(8))

    materials: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    faq: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    popularity: Mapped[int] = mapped_column(default=0)

    # Derived at import so the search index never runs pypinyin on the hot path.
    name_pinyin: Mapped[str] = mapped_column(sa.String(800), default="")
    name_initials: Mapped[str] = mapped_column(sa.String(200), default="")

    themes: Mapped[list[Theme]] = relationship(secondary=item_theme, lazy="selectin")

    def __repr__(self) -> str:
        return f"<Item {self.task_code} {self.task_name}>"


class Bundle(TimestampMixin, db.Model):
    """一件事一次办: a life event that groups several items."""

    __tablename__ = "catalog_bundle"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    items: Mapped[list[BundleItem]] = relationship(
        back_populates="bundle", order_by="BundleItem.position", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Bundle {self.id} {self.name}>"


class BundleItem(db.Model):
    __tablename__ = "catalog_bundle_item"

    bundle_id: Mapped[int] = mapped_column(sa.ForeignKey("catalog_bundle.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("catalog_item.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    bundle: Mapped[Bundle] = relationship(back_populates="items")
    item: Mapped[Item] = relationship()


class Synonym(TimestampMixin, db.Model):
    """Admin additions to the shipped synonym dictionary (``data/synonyms.tsv``)."""

    __tablename__ = "catalog_synonym"
    __table_args__ = (sa.UniqueConstraint("term", "expansion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(sa.String(50))
    expansion: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(16), default="synonym")  # synonym | correction
    created_by: Mapped[str | None] = mapped_column(sa.String(100))

    def __repr__(self) -> str:
        return f"<Synonym {self.term}->{self.expansion} ({self.kind})>"


class CatalogRevision(db.Model):
    """One row whose token changes on every catalog write.

    Every app process keeps its own in-memory search index and rebuilds it when the token
    it was built from is no longer current, so several app servers stay consistent.
    """

    __tablename__ = "catalog_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(32), default=lambda: uuid.uuid4().hex)
    revision: Mapped[int] = mapped_column(default=1)


class LifeEventRow(TimestampMixin, db.Model):
    """Admin additions to the shipped life events (``data/life_events.json``); a row whose
    key is a shipped event's key extends that event (see ``life_event_services``)."""

    __tablename__ = "catalog_life_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    triggers: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    patterns: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(sa.String(100))

    def __repr__(self) -> str:
        return f"<LifeEventRow {self.key} {self.name}>"


class ItemUse(db.Model):
    """How often residents opened an item from the kiosk's search results: the kiosks' own
    usage, a bounded prior of search beside the imported popularity. One row per item,
    counted up by one atomic upsert per opening."""

    __tablename__ = "catalog_item_use"

    item_id: Mapped[int] = mapped_column(sa.ForeignKey("catalog_item.id", ondelete="CASCADE"), primary_key=True)
    opened_from_search: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<ItemUse {self.item_id} {self.opened_from_search}>"
