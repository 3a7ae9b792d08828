"""The organisation tree, its areas, users and the roles they hold in units."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
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
    # Password guessing: consecutive failed sign-ins, and the time until which the account refuses passwords.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Identity levels (docs/identity.md): level 1 once a phone number or e-mail address was verified by a one-time
    # code, level 2 once an identity provider verified the real name.
    phone_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    real_name_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # An account of the generated demo city: with `demo_second_factor_exempt` (refused in production) it signs in
    # without a second factor, so that the demo stays usable.
    demo_account: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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


class UserSession(Base):
    """A signed-in browser: the cookie carries a random session id, the table only its SHA-256, so that a session
    can be listed and ended on the server (sign-out, password change, deactivation, "sign out everywhere")."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    # The client's network, not its address: 203.0.113.0/24 or 2001:db8:1::/48.
    ip_prefix: Mapped[str] = mapped_column(String(50), default="")
    # How the person signed in: "password" or "oidc:<provider>", with the provider's assurance claims.
    method: Mapped[str] = mapped_column(String(60), default="password")
    acr: Mapped[str | None] = mapped_column(String(200))
    amr: Mapped[str | None] = mapped_column(String(200))
    second_factor: Mapped[str | None] = mapped_column(
        String(20)
    )  # "totp", "recovery", "idp" (the acr said so)
    # The provider's ID token, sent back as `id_token_hint` at RP-initiated logout.
    id_token: Mapped[str | None] = mapped_column(Text, deferred=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class SecondFactor(Base):
    """A user's TOTP secret (RFC 6238): pending until confirmed with a first code."""

    __tablename__ = "second_factors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # Sealed with the secret box (chengzhi.security.secretbox); a value from before 0033 may still be plain base32
    # until `chengzhi secrets rotate` (or its next use) seals it.
    secret: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The last time step accepted: a code is never accepted twice.
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Passkey(Base):
    """A WebAuthn credential (a passkey or security key) a user registered as their second factor: the credential
    id and public key (`AttestedCredentialData`, base64url) and the authenticator's signature counter."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(400), unique=True)
    credential: Mapped[str] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


Index("ix_user_sessions_user_revoked", UserSession.user_id, UserSession.revoked_at)
Index("ix_units_kind_function", Unit.kind, Unit.function)
