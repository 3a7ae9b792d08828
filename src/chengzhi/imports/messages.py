"""What the importer tells the person running it, in Chinese or English, and the problem type it reports."""

from __future__ import annotations

from dataclasses import dataclass

from chengzhi.errors import ChengzhiError
from chengzhi.i18n import N_, Language, Text, gettext, message

# key -> the message (English msgid, `%(name)s` parameters), translated when the importer reports it.
MESSAGES: dict[str, Text] = {
    "mapping_unreadable": N_("The mapping file cannot be read: %(details)s"),
    "mapping_invalid": N_("The mapping file is not valid: %(details)s"),
    "no_city": N_("The database has no city yet: create the organisation first (e.g. `chengzhi demo`)."),
    "unknown_categories": N_(
        "Categories named in the mapping do not exist in this city or are inactive: %(codes)s"
    ),
    "unknown_units": N_("Units named in the mapping do not exist in this city: %(codes)s"),
    "unsupported_format": N_(
        "Unsupported file type '%(suffix)s': use .csv or .xlsx, or set format in the mapping's [file]."
    ),
    "unreadable_file": N_("The file cannot be read: %(details)s"),
    "sheet_not_found": N_("The workbook has no sheet '%(sheet)s' (sheets: %(sheets)s)."),
    "empty_file": N_("The file is empty: there is no header row."),
    "undecodable": N_(
        "Cannot be read as %(encoding)s: %(details)s. Set the right encoding in the mapping's [file] (e.g. gb18030)."
    ),
    "csv_error": N_("Malformed CSV: %(details)s"),
    "missing_columns": N_(
        "The file lacks columns the mapping uses: %(columns)s. Columns in the file: %(available)s"
    ),
    "duplicate_header": N_("The header has column '%(column)s' more than once."),
    "field_count": N_("the row has %(count)s fields where the header has %(expected)s (unbalanced quotes?)"),
    "missing_value": N_("%(column)s is empty"),
    "bad_datetime": N_("%(column)s value '%(value)s' is not a time in the formats %(formats)s"),
    "bad_number": N_("%(column)s value '%(value)s' is not a number"),
    "out_of_range": N_("%(column)s value %(value)s is outside %(low)s..%(high)s"),
    "half_location": N_("latitude and longitude must both be given or both be empty"),
    "too_long": N_("%(column)s is longer than %(limit)s characters"),
    "in_future": N_("%(column)s time %(value)s is in the future"),
    "before_received": N_("%(column)s time %(value)s is before the received time %(received)s"),
    "closed_before_replied": N_("the closed time %(value)s is before the reply time %(replied)s"),
    "reply_without_time": N_("there is a reply but the reply time %(column)s is empty"),
    "time_without_reply": N_("there is a reply time but the reply %(column)s is empty"),
    "closed_without_time": N_("the status says closed but the closed time %(column)s is empty"),
    "unknown_status": N_("%(column)s value '%(value)s' is in neither closed_values nor open_values"),
    "no_category": N_("no category for %(column)s value '%(value)s' and the mapping has no default category"),
    "no_lead_unit": N_("no unit for %(column)s value '%(value)s' and the mapping has no default unit"),
    "duplicate_id": N_("id '%(value)s' repeats the one in row %(other)s"),
    "not_written": N_("could not be written: %(details)s"),
}


class Reason(str):
    """A message that remembers its kind (the message key, or the error code): what a dry run counts by."""

    kind: str

    def __new__(cls, text: str, kind: str) -> Reason:
        reason = super().__new__(cls, text)
        reason.kind = kind
        return reason


def kind_of(reason: str) -> str:
    return reason.kind if isinstance(reason, Reason) else "other"


class Messages:
    """The importer's messages in one language."""

    def __init__(self, language: Language) -> None:
        self.language: Language = language

    def __call__(self, key: str, **params: object) -> Reason:
        return Reason(gettext(self.language, MESSAGES[key], **params), key)

    def error(self, exc: ChengzhiError) -> Reason:
        """The platform's own message for an error a service function raised."""
        return Reason(message(exc.code, self.language, exc.params), exc.code)


@dataclass(frozen=True)
class Problem:
    """Why a file cannot be imported: a row (as a spreadsheet numbers it, header = row 1) or the file as a whole.

    `row` is 0 for problems with the mapping or the whole file. `line` is the line of the file where the row
    starts, when that differs from the row number (CSV fields may span lines).
    """

    row: int
    reason: str
    line: int | None = None
    kinds: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.row == 0:
            return self.reason
        where = f"row {self.row}" + (f" (line {self.line})" if self.line and self.line != self.row else "")
        return f"{where}: {self.reason}"


class ImportFailed(Exception):
    """Nothing was imported. `problems` lists the first invalid rows (at most MAX_PROBLEMS); `total` counts all."""

    MAX_PROBLEMS = 1000

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        self.problems = problems[: self.MAX_PROBLEMS]
        self.total = max(total or 0, len(problems))
        super().__init__(f"{self.total} problem(s); first: {problems[0] if problems else '-'}")
