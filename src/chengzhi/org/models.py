"""The organisation tree, its areas, users and the roles they hold in units."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.db import Base, UTCDateTime, utcnow


class UnitKind(enum.StrEnum):
    city = "city"
    district = "district"
    street = "street"  # street office or township
    community = "community"
    department = "department"


# Which kinds of unit may sit under which.
ALLOWED_PARENTS: dict[UnitKind, set[UnitKind | None]] = {
    UnitKind.city: {None},
    UnitKind.district: {UnitKind.city},
    UnitKind.street: {UnitKind.district},
    UnitKind.community: {UnitKind.street},
    UnitKind.department: {UnitKind.city, UnitKind.district},
}

TERRITORIAL = (UnitKind.city, UnitKind.district, UnitKind.street, UnitKind.community)


class Role(enum.StrEnum):
    resident = "resident"
    operator = "operator"
    dispatcher = "dispatcher"
    handler = "handler"
    supervisor = "supervisor"
    leader = "leader"
    admin = "admin"
    analyst = "analyst"  # reads the dashboards and their drill-down lists; acts on nothing
    credit_officer = "credit_officer"  # credit supervision: registry, allow-list, records, repair decisions
    knowledge_editor = "knowledge_editor"  # writes, publishes and withdraws knowledge articles of its units
    data_publisher = (
        "data_publisher"  # creates, publishes and withdraws its units' open datasets; decides applications
    )


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, validate_strings=True, length=20)


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(_enum(UnitKind, "unit_kind"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Materialised path "/1/4/17/": a unit's subtree is every unit whose path starts with its own.
    path: Mapped[str] = mapped_column(String(200), index=True)
    # What a department does ("water", "urban_management", ...); categories route to it by this code.
    function: Mapped[str | None] = mapped_column(String(60), index=True)
    # GeoJSON Polygon or MultiPolygon (lon, lat in WGS 84) for territorial units.
    # Deferred: units are joined into many queries (parents, lead units, roles); real polygons are large.
    area: Mapped[str | None] = mapped_column(Text, deferred=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], lazy="joined", innerjoin=False)

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5), default="zh")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan"
    )


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "unit_id", "role", name="uq_role_assignments_user_unit_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))

    user: Mapped[User] = relationship(back_populates="roles")
    unit: Mapped[Unit] = relationship(lazy="joined")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token: a stolen database does not yield usable tokens.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="api")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


Index("ix_units_kind_function", Unit.kind, Unit.function)
