"""What the importer tells the person running it, in Chinese or English, and the problem type it reports."""

from __future__ import annotations

from dataclasses import dataclass

from chengzhi.errors import ChengzhiError
from chengzhi.i18n import Language, message

# key -> language -> template (str.format)
MESSAGES: dict[str, dict[str, str]] = {
    "mapping_unreadable": {
        "zh": "映射文件无法读取：{details}",
        "en": "The mapping file cannot be read: {details}",
    },
    "mapping_invalid": {
        "zh": "映射文件无效：{details}",
        "en": "The mapping file is not valid: {details}",
    },
    "no_city": {
        "zh": "数据库中还没有城市：请先建立组织架构（如 `chengzhi demo`）再导入。",
        "en": "The database has no city yet: create the organisation first (e.g. `chengzhi demo`).",
    },
    "unknown_categories": {
        "zh": "映射中的类别在本市不存在或已停用：{codes}",
        "en": "Categories named in the mapping do not exist in this city or are inactive: {codes}",
    },
    "unknown_units": {
        "zh": "映射中的单位在本市不存在：{codes}",
        "en": "Units named in the mapping do not exist in this city: {codes}",
    },
    "unsupported_format": {
        "zh": "不支持的文件类型“{suffix}”：请使用 .csv 或 .xlsx，或在映射的 [file] 中设置 format。",
        "en": "Unsupported file type '{suffix}': use .csv or .xlsx, or set format in the mapping's [file].",
    },
    "unreadable_file": {
        "zh": "文件无法读取：{details}",
        "en": "The file cannot be read: {details}",
    },
    "sheet_not_found": {
        "zh": "工作簿中没有名为“{sheet}”的工作表（现有：{sheets}）。",
        "en": "The workbook has no sheet '{sheet}' (sheets: {sheets}).",
    },
    "empty_file": {"zh": "文件为空：没有表头行。", "en": "The file is empty: there is no header row."},
    "undecodable": {
        "zh": "无法按 {encoding} 编码读取：{details}。请在映射的 [file] 中设置正确的 encoding（如 gb18030）。",
        "en": "Cannot be read as {encoding}: {details}. Set the right encoding in the mapping's [file] "
        "(e.g. gb18030).",
    },
    "csv_error": {"zh": "CSV 格式错误：{details}", "en": "Malformed CSV: {details}"},
    "missing_columns": {
        "zh": "文件缺少映射中用到的列：{columns}。文件中的列：{available}",
        "en": "The file lacks columns the mapping uses: {columns}. Columns in the file: {available}",
    },
    "duplicate_header": {
        "zh": "表头中列“{column}”出现了不止一次。",
        "en": "The header has column '{column}' more than once.",
    },
    "field_count": {
        "zh": "本行有 {count} 个字段，表头有 {expected} 个（引号不配对？）",
        "en": "the row has {count} fields where the header has {expected} (unbalanced quotes?)",
    },
    "missing_value": {"zh": "“{column}”为空", "en": "{column} is empty"},
    "bad_datetime": {
        "zh": "“{column}”的值“{value}”不是可识别的时间（格式：{formats}）",
        "en": "{column} value '{value}' is not a time in the formats {formats}",
    },
    "bad_number": {
        "zh": "“{column}”的值“{value}”不是数字",
        "en": "{column} value '{value}' is not a number",
    },
    "out_of_range": {
        "zh": "“{column}”的值 {value} 超出范围 {low}…{high}",
        "en": "{column} value {value} is outside {low}..{high}",
    },
    "half_location": {
        "zh": "纬度和经度须同时给出或同时为空",
        "en": "latitude and longitude must both be given or both be empty",
    },
    "too_long": {
        "zh": "“{column}”超过 {limit} 个字符",
        "en": "{column} is longer than {limit} characters",
    },
    "in_future": {
        "zh": "“{column}”的时间 {value} 在将来",
        "en": "{column} time {value} is in the future",
    },
    "before_received": {
        "zh": "“{column}”的时间 {value} 早于受理时间 {received}",
        "en": "{column} time {value} is before the received time {received}",
    },
    "closed_before_replied": {
        "zh": "办结时间 {value} 早于答复时间 {replied}",
        "en": "the closed time {value} is before the reply time {replied}",
    },
    "reply_without_time": {
        "zh": "有答复内容但答复时间“{column}”为空",
        "en": "there is a reply but the reply time {column} is empty",
    },
    "time_without_reply": {
        "zh": "有答复时间但答复内容“{column}”为空",
        "en": "there is a reply time but the reply {column} is empty",
    },
    "closed_without_time": {
        "zh": "状态为已办结，但办结时间“{column}”为空",
        "en": "the status says closed but the closed time {column} is empty",
    },
    "unknown_status": {
        "zh": "“{column}”的值“{value}”既不在 closed_values 也不在 open_values 中",
        "en": "{column} value '{value}' is in neither closed_values nor open_values",
    },
    "no_category": {
        "zh": "“{column}”的值“{value}”没有对应的类别，且映射未设默认类别",
        "en": "no category for {column} value '{value}' and the mapping has no default category",
    },
    "no_lead_unit": {
        "zh": "“{column}”的值“{value}”没有对应的单位，且映射未设默认单位",
        "en": "no unit for {column} value '{value}' and the mapping has no default unit",
    },
    "duplicate_id": {
        "zh": "编号“{value}”与第 {other} 行重复",
        "en": "id '{value}' repeats the one in row {other}",
    },
    "not_written": {
        "zh": "写入失败：{details}",
        "en": "could not be written: {details}",
    },
}


class Messages:
    """The importer's messages in one language."""

    def __init__(self, language: Language) -> None:
        self.language: Language = language

    def __call__(self, key: str, **params: object) -> str:
        templates = MESSAGES[key]
        return templates[self.language].format(**params)

    def error(self, exc: ChengzhiError) -> str:
        """The platform's own message for an error a service function raised."""
        return message(exc.code, self.language, exc.params)


@dataclass(frozen=True)
class Problem:
    """Why a file cannot be imported: a row (as a spreadsheet numbers it, header = row 1) or the file as a whole.

    `row` is 0 for problems with the mapping or the whole file. `line` is the line of the file where the row
    starts, when that differs from the row number (CSV fields may span lines).
    """

    row: int
    reason: str
    line: int | None = None

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
