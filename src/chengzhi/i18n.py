"""Language negotiation and the catalogue of messages a user or client can be shown by the API.

Chinese (zh) is the default; English (en) on request through `?lang=en`, the `lang` cookie or Accept-Language.
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import HTTPConnection

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

# code -> language -> template (str.format with the error's params)
MESSAGES: dict[str, dict[str, str]] = {
    "not_found": {"zh": "未找到所请求的资源。", "en": "The requested resource was not found."},
    "request_not_found": {
        "zh": "未找到诉求 {ref}，请核对编号。",
        "en": "Request {ref} was not found; check the number.",
    },
    "unit_not_found": {"zh": "未找到单位 {ref}。", "en": "Unit {ref} was not found."},
    "category_not_found": {
        "zh": "未找到类别 {ref}，请从类别列表中选择。",
        "en": "Category {ref} was not found; pick one from the category list.",
    },
    "user_not_found": {"zh": "未找到用户 {ref}。", "en": "User {ref} was not found."},
    "method_not_allowed": {"zh": "该地址不支持此请求方法。", "en": "This method is not allowed here."},
    "not_authenticated": {
        "zh": "请先登录：在 Authorization 头中提供有效的令牌。",
        "en": "Sign in first: send a valid token in the Authorization header.",
    },
    "bad_credentials": {"zh": "用户名或密码错误。", "en": "Wrong username or password."},
    "token_invalid": {
        "zh": "令牌无效或已过期，请重新登录获取新令牌。",
        "en": "The token is invalid or has expired; sign in again for a new one.",
    },
    "csrf_failed": {
        "zh": "页面已过期（CSRF 校验失败），请刷新页面后重试。",
        "en": "The page has expired (CSRF check failed); reload it and try again.",
    },
    "forbidden": {"zh": "您无权执行此操作。", "en": "You are not allowed to do this."},
    "forbidden_role": {
        "zh": "此操作需要以下角色之一：{roles}。",
        "en": "This action needs one of these roles: {roles}.",
    },
    "out_of_scope": {
        "zh": "该诉求不在您所在单位的管辖范围内。",
        "en": "This request is outside your unit's responsibility.",
    },
    "illegal_transition": {
        "zh": "诉求当前状态为“{status_zh}”，不能执行“{action_zh}”。{hint_zh}",
        "en": "The request is {status_en}; it cannot be {action_en}. {hint_en}",
    },
    "extension_pending": {
        "zh": "已有延期申请待审批，请等待督办员处理。",
        "en": "An extension request is already waiting for a supervisor's decision.",
    },
    "no_extension_pending": {
        "zh": "没有待审批的延期申请。",
        "en": "There is no extension request to decide on.",
    },
    "not_lead_unit": {
        "zh": "只有主办单位 {unit} 的承办人可以执行此操作。",
        "en": "Only handlers of the lead unit {unit} can do this.",
    },
    "return_window_closed": {
        "zh": "退单期限已过（截止 {until}），请办理此诉求或联系派单员改派。",
        "en": "The time to return this request has passed (until {until}); handle it or ask a dispatcher to re-route.",
    },
    "reason_required": {"zh": "请填写原因。", "en": "Give a reason."},
    "category_required": {
        "zh": "派单前请先确定诉求类别。",
        "en": "Set the request's category before dispatching it.",
    },
    "lead_in_co_units": {
        "zh": "主办单位不能同时是协办单位。",
        "en": "The lead unit cannot also be a co-unit.",
    },
    "unit_inactive": {"zh": "单位 {unit} 已停用。", "en": "Unit {unit} is no longer active."},
    "dispatch_target_invalid": {
        "zh": "不能派单给 {unit}：请选择区、街道、社区或职能部门。",
        "en": "Cannot dispatch to {unit}: choose a district, street, community or department.",
    },
    "merge_into_self": {"zh": "不能把诉求合并到其自身。", "en": "A request cannot be merged into itself."},
    "location_outside_city": {
        "zh": "该位置不在本市范围内，请在地图上重新选点或填写地址。",
        "en": "This location is outside the city; pick another point on the map or give an address.",
    },
    "location_required": {
        "zh": "请提供位置：地图坐标或地址。",
        "en": "Give a location: a map point or an address.",
    },
    "contact_required": {
        "zh": "请留下联系电话或邮箱，以便承办单位联系您。",
        "en": "Leave a phone number or an e-mail address so the handling unit can reach you.",
    },
    "tracking_mismatch": {
        "zh": "编号与手机号后四位不匹配，请核对。",
        "en": "The number and the last four digits of the phone do not match; check them.",
    },
    "validation_failed": {
        "zh": "提交的数据有误：{details}",
        "en": "The submitted data is not valid: {details}",
    },
    "bad_request": {"zh": "请求格式有误：{details}", "en": "The request is malformed: {details}"},
    "json_invalid": {
        "zh": "请求体不是有效的 JSON（第 {position} 个字符附近：{details}）。",
        "en": "The body is not valid JSON (near character {position}: {details}).",
    },
    "json_expected": {
        "zh": "请求体应为 JSON，并使用 Content-Type: application/json 发送。",
        "en": "Send the body as JSON, with Content-Type: application/json.",
    },
    "value_rejected": {
        "zh": "提交的数据包含无法保存的值（数字超出范围，或文字中含有空字符、无效字符），请检查后重试。",
        "en": "The submitted data holds a value that cannot be stored (a number out of range, or a NUL "
        "or invalid character in text); check it and try again.",
    },
    "payload_too_large": {
        "zh": "文件过大：每张照片不能超过 {limit}。",
        "en": "The file is too large: each photo may be at most {limit}.",
    },
    "body_too_large": {
        "zh": "请求体过大：不能超过 {limit}。",
        "en": "The request body is too large: at most {limit}.",
    },
    "unsupported_media_type": {
        "zh": "只接受 JPEG、PNG 或 WebP 格式的照片。",
        "en": "Only JPEG, PNG or WebP photos are accepted.",
    },
    "too_many_photos": {
        "zh": "每条诉求最多上传 {limit} 张照片。",
        "en": "A request may have at most {limit} photos.",
    },
    "rate_limited": {
        "zh": "提交过于频繁，请 {seconds} 秒后再试。",
        "en": "Too many submissions; try again in {seconds} seconds.",
    },
    "support_closed": {
        "zh": "这条诉求已办结，不再接受“我也遇到”；如问题仍在，请提交新的诉求。",
        "en": 'This request is closed and takes no more "me too"; if the problem is back, report it again.',
    },
    "idempotency_conflict": {
        "zh": "该 Idempotency-Key 已用于另一项不同的请求，请为新请求使用新的键。",
        "en": "This Idempotency-Key was already used for a different request; use a new key.",
    },
    "idempotency_in_progress": {
        "zh": "使用同一 Idempotency-Key 的请求正在处理中，请稍后重试。",
        "en": "A request with the same Idempotency-Key is being processed; retry shortly.",
    },
    "conflict": {
        "zh": "操作与当前数据冲突：{details}",
        "en": "The action conflicts with current data: {details}",
    },
    "username_taken": {"zh": "用户名 {username} 已被使用。", "en": "The username {username} is taken."},
    "code_taken": {"zh": "编码 {code} 已存在。", "en": "The code {code} already exists."},
    "invalid_area": {
        "zh": "辖区范围不是有效的 GeoJSON 多边形：{details}",
        "en": "The area is not a valid GeoJSON polygon: {details}",
    },
    "invalid_parent": {
        "zh": "{kind} 不能设在 {parent_kind} 之下。",
        "en": "A {kind} cannot sit under a {parent_kind}.",
    },
    "invalid_time_limit": {
        "zh": "时限“{value}”无效：请使用如 2h、30m、3d 或 7wd（工作日）的格式。",
        "en": "Time limit '{value}' is not valid: use a form such as 2h, 30m, 3d or 7wd (working days).",
    },
    "attribute_invalid": {
        "zh": "附加问题“{code}”的回答无效：{details}",
        "en": "The answer to question '{code}' is not valid: {details}",
    },
    "attribute_required": {
        "zh": "请回答必填问题“{code}”。",
        "en": "Answer the required question '{code}'.",
    },
    "internal_error": {
        "zh": "服务器内部错误，已记录。请稍后重试；如持续出现请联系管理员（编号 {ref}）。",
        "en": "Internal error, logged. Try again later; if it persists, contact the administrator (ref {ref}).",
    },
}


class _Params(dict[str, object]):
    """Message parameters; one the caller did not give renders empty rather than as "{name}"."""

    def __missing__(self, key: str) -> str:
        return ""


def message(code: str, lang: Language, params: dict[str, object] | None = None) -> str:
    templates = MESSAGES.get(code) or MESSAGES["bad_request"]
    template = templates.get(lang) or templates["zh"]
    try:
        return template.format_map(_Params(params or {})).strip()
    except (KeyError, IndexError, ValueError, AttributeError):
        return template


def negotiate_language(conn: HTTPConnection, default: Language = "zh") -> Language:
    """`?lang=`, then the `lang` cookie, then Accept-Language, then the default."""
    for candidate in (conn.query_params.get("lang"), conn.cookies.get("lang")):
        if candidate:
            lang = candidate.lower()[:2]
            if lang in LANGUAGES:
                return lang
    header = conn.headers.get("accept-language", "")
    best: tuple[float, Language] | None = None
    for part in header.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, q_part = piece.partition(";")
        try:
            quality = float(q_part.strip()[2:]) if q_part.strip().startswith("q=") else 1.0
        except ValueError:
            quality = 0.0
        lang = tag.strip().lower()[:2]
        if lang in LANGUAGES and (best is None or quality > best[0]):
            best = (quality, lang)
    return best[1] if best else default
