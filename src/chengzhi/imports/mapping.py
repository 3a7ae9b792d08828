"""The mapping file: which columns of an old system's export become which fields of a request.

A TOML file, documented in docs/import.md; `examples/mappings/` has two real ones.
"""

from __future__ import annotations

import codecs
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chengzhi.imports.messages import ImportFailed, Messages, Problem


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Spec):
    name: str = Field(min_length=1, max_length=40)
    timezone: str | None = None
    datetime_formats: list[str] = Field(default_factory=lambda: ["iso"], min_length=1)
    language: str = Field(default="zh", min_length=2, max_length=5)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
                ) from None
        return value


class FileSpec(_Spec):
    format: Literal["csv", "xlsx"] | None = None
    encoding: str = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    sheet: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, utf-8-sig, gb18030)") from None
        return value


class FieldsSpec(_Spec):
    external_id: str
    text: list[str] = Field(min_length=1)
    text_separator: str = "\n"
    whitespace: Literal["lines", "collapse", "keep"] = "lines"
    title: str | None = None
    received_at: str
    lat: str | None = None
    lon: str | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None

    @field_validator("text", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _both_coordinates(self) -> FieldsSpec:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon are mapped together or not at all")
        return self


class CodeTableSpec(_Spec):
    """A column whose values are looked up in `values` (without values, the cell holds the code itself);
    `default` for empty or unlisted values ("" for none); without a default such values make the row invalid."""

    column: str | None = None
    values: dict[str, str] = Field(default_factory=dict)
    default: str | None = None

    @field_validator("values")
    @classmethod
    def _same_spacing_as_cells(cls, values: dict[str, str]) -> dict[str, str]:
        return {" ".join(key.split()): code for key, code in values.items()}  # cells are read the same way

    @model_validator(mode="after")
    def _column_for_values(self) -> CodeTableSpec:
        if self.values and self.column is None:
            raise ValueError("values need a column to look up")
        return self

    @property
    def codes(self) -> set[str]:
        return set(self.values.values()) | ({self.default} if self.default else set())


class OutcomeSpec(_Spec):
    reply_text: str | None = None
    replied_at: str | None = None
    status: str | None = None
    closed_values: list[str] = Field(default_factory=list)
    open_values: list[str] = Field(default_factory=list)
    closed_at: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeSpec:
        if self.status is not None and not self.closed_values:
            raise ValueError("a status column needs closed_values")
        if (self.closed_values or self.open_values) and self.status is None:
            raise ValueError("closed_values and open_values need a status column")
        if self.status is not None and self.closed_at is None:
            raise ValueError("a status column needs closed_at, the column with the closing time")
        if self.replied_at is not None and self.reply_text is None:
            raise ValueError("replied_at needs reply_text")
        if self.reply_text is not None and self.replied_at is None and self.closed_at is None:
            raise ValueError("reply_text needs replied_at (or closed_at, for replies given on closing)")
        return self


class TolerancesSpec(_Spec):
    """What a city migrating real exports may accept instead of refusing the row (docs/import.md)."""

    # A reply or closing time up to this many seconds before the time it must follow is taken as that time.
    clock_skew_seconds: int = Field(default=0, ge=0, le=86_400)
    # A date without a time of day on the received day, before the received time, is taken as the received time.
    date_only_times: bool = False
    # A note on a case still open in the old system: "refuse" the row (it looks like a reply without its time)
    # or keep it as a "progress" note on the open request's timeline.
    open_case_notes: Literal["refuse", "progress"] = "refuse"


class MappingSpec(_Spec):
    source: SourceSpec
    file: FileSpec = Field(default_factory=FileSpec)
    fields: FieldsSpec
    category: CodeTableSpec = Field(default_factory=CodeTableSpec)
    outcome: OutcomeSpec = Field(default_factory=OutcomeSpec)
    lead_unit: CodeTableSpec = Field(default_factory=CodeTableSpec)
    # category question code -> column holding the answer
    attributes: dict[str, str] = Field(default_factory=dict)
    tolerances: TolerancesSpec = Field(default_factory=TolerancesSpec)

    def columns(self) -> list[str]:
        """Every column of the file the mapping reads, in a stable order."""
        f, o = self.fields, self.outcome
        named = [
            f.external_id,
            *f.text,
            f.title,
            f.received_at,
            f.lat,
            f.lon,
            f.address,
            f.contact_name,
            f.contact_phone,
            f.contact_email,
            self.category.column,
            o.reply_text,
            o.replied_at,
            o.status,
            o.closed_at,
            self.lead_unit.column,
            *self.attributes.values(),
        ]
        return list(dict.fromkeys(c for c in named if c is not None))


def parse_mapping(data: dict[str, Any], say: Messages) -> MappingSpec:
    try:
        return MappingSpec.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(
            f"[{'.'.join(str(p) for p in error['loc'])}] {error['msg']}" for error in exc.errors()
        )
        raise ImportFailed([Problem(0, say("mapping_invalid", details=details))]) from None


def load_mapping(path: Path, say: Messages) -> MappingSpec:
    """Read and check a mapping file; ImportFailed says what is wrong with it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ImportFailed([Problem(0, say("mapping_unreadable", details=f"{path}: {exc}"))]) from None
    return parse_mapping(data, say)
