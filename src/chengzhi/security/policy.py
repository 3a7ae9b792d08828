"""The authorisation policy, written down: for every operation the application answers (API and pages), which
roles may call it and whether it addresses something inside a unit's scope. The domains enforce it in their own
code; `tests/test_authorisation_matrix_api.py` and `tests/test_authorisation_matrix_pages.py` call every operation
as every role, on targets inside and outside the caller's street (another street, another district, another
department), and check the answers against this table. An operation missing here fails the API half's first test,
so a new route cannot go unreviewed.

Roles are written by one letter each: R resident, O operator, D dispatcher, H handler, S supervisor, L leader,
A admin, N analyst, C credit officer, K knowledge editor, P data publisher. `PUBLIC`: anyone, signed in or not;
`SIGNED_IN`: any signed-in user; `SIGN_IN`: the operation is itself a sign-in, sign-out or its form (tested by
test_auth, test_sessions, test_oidc; the matrix only checks it never fails with a server error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["request", "unit", "user"]

# The roles' values in org.models.Role (this module sits below the domains and names them by value).
LETTERS: dict[str, str] = {
    "R": "resident",
    "O": "operator",
    "D": "dispatcher",
    "H": "handler",
    "S": "supervisor",
    "L": "leader",
    "A": "admin",
    "N": "analyst",
    "C": "credit_officer",
    "K": "knowledge_editor",
    "P": "data_publisher",
}
PUBLIC = "PUBLIC"
SIGNED_IN = "SIGNED_IN"
SIGN_IN = "SIGN_IN"
REQUEST_WORKERS = "ODHSLAN"  # org.service.REQUEST_ROLES: the roles that read residents' requests
STAFF = "ODHSLANCKP"


@dataclass(frozen=True)
class Rule:
    who: str  # PUBLIC, SIGNED_IN, SIGN_IN or role letters
    scope: Scope | None = None  # the path names a request, unit or user that must lie in the caller's scope
    note: str = ""
    at_root: bool = False  # the role must be held at the city (the root unit), not lower down
    other_ids: bool = False  # the path names another row the matrix does not make (404 when allowed)

    def allows(self, role: str | None, *, at_root: bool = False) -> bool:
        """Whether a user holding `role` (None: anonymous; `at_root`: at the city) may call the operation on a
        target in their scope."""
        if self.who in (PUBLIC, SIGN_IN):
            return True
        if role is None or (self.at_root and not at_root):
            return False
        if self.who == SIGNED_IN:
            return True
        return any(LETTERS[letter] == role for letter in self.who)


def _r(
    who: str, scope: Scope | None = None, note: str = "", *, at_root: bool = False, other_ids: bool = False
) -> Rule:
    return Rule(who, scope, note, at_root, other_ids)


# The resident who submitted a request reads it too ("R" with scope "request": their own request is in scope).
OWN_OR_STAFF = "R" + REQUEST_WORKERS

POLICY: dict[tuple[str, str], Rule] = {
    # ---- the application, documents
    ("GET", "/openapi.json"): _r(PUBLIC),
    ("GET", "/api/v1/health"): _r(PUBLIC),
    ("GET", "/docs"): _r(PUBLIC),
    # ---- sign-in, sessions, accounts (org, identity)
    ("POST", "/api/v1/auth/token"): _r(SIGN_IN),
    ("DELETE", "/api/v1/auth/token"): _r(SIGNED_IN),
    ("POST", "/api/v1/auth/session"): _r(SIGN_IN),
    ("DELETE", "/api/v1/auth/session"): _r(SIGN_IN),
    ("GET", "/api/v1/me"): _r(SIGNED_IN),
    ("GET", "/api/v1/me/sessions"): _r(SIGNED_IN),
    ("DELETE", "/api/v1/me/sessions/{session_id}"): _r(SIGNED_IN, note="one's own sessions only (404 else)"),
    ("POST", "/api/v1/me/sessions/end-all"): _r(SIGNED_IN),
    ("PUT", "/api/v1/me/password"): _r(SIGNED_IN),
    ("GET", "/login"): _r(SIGN_IN),
    ("POST", "/login"): _r(SIGN_IN),
    ("GET", "/logout"): _r(SIGN_IN),
    ("POST", "/logout"): _r(SIGN_IN),
    ("GET", "/login/second-factor"): _r(SIGN_IN),
    ("POST", "/login/second-factor"): _r(SIGN_IN),
    ("GET", "/login/oidc/{name}"): _r(SIGN_IN),
    ("GET", "/auth/oidc/{name}/callback"): _r(SIGN_IN),
    ("GET", "/auth/oidc/logout"): _r(SIGN_IN),
    ("GET", "/password/reset"): _r(SIGN_IN),
    ("POST", "/password/reset"): _r(SIGN_IN),
    ("POST", "/password/reset/confirm"): _r(SIGN_IN),
    ("GET", "/account"): _r(SIGNED_IN),
    ("POST", "/account/sessions/end"): _r(SIGNED_IN),
    ("POST", "/account/passkeys/options"): _r(SIGNED_IN, note="JSON; the CSRF token in X-CSRF-Token"),
    ("POST", "/account/passkeys"): _r(SIGNED_IN, note="JSON; the CSRF token in X-CSRF-Token"),
    ("POST", "/account/passkeys/{passkey_id}/delete"): _r(SIGNED_IN, other_ids=True, note="one's own only"),
    ("POST", "/login/passkey/options"): _r(SIGN_IN, note="only a sign-in waiting for its second factor"),
    ("POST", "/login/passkey"): _r(SIGN_IN, note="the second factor by passkey"),
    ("GET", "/verify"): _r(PUBLIC, note="a visitor verifies a phone and becomes a resident"),
    ("POST", "/verify/send"): _r(PUBLIC, note="codes limited per number and per client"),
    ("POST", "/verify/confirm"): _r(PUBLIC, note="a visitor's code only in the browser it was sent to"),
    ("GET", "/me"): _r(SIGNED_IN, note="a resident's own space; staff are sent to /account"),
    ("GET", "/me/export.{fmt}"): _r(SIGNED_IN),
    ("POST", "/me/correct"): _r(SIGNED_IN),
    ("POST", "/me/notifications"): _r(SIGNED_IN),
    ("POST", "/me/sharing"): _r(
        SIGNED_IN, note="which verified details the units handling one's requests see"
    ),
    ("POST", "/me/app-accounts/{link_id}/unlink"): _r(SIGNED_IN, note="one's own links only", other_ids=True),
    ("POST", "/me/delete"): _r(SIGNED_IN),
    # ---- organisation: units are public information; users and their sessions are the administrators'
    ("GET", "/api/v1/units"): _r(PUBLIC),
    ("GET", "/api/v1/units/{unit_id}"): _r(PUBLIC),
    ("GET", "/api/v1/units/{unit_id}/area"): _r(PUBLIC),
    ("GET", "/map/areas.geojson"): _r(PUBLIC),
    ("POST", "/api/v1/units"): _r("A"),
    ("PUT", "/api/v1/units/{unit_id}/area"): _r("A", "unit"),
    ("GET", "/api/v1/users"): _r("A", note="users within the administrator's subtree"),
    ("POST", "/api/v1/users"): _r("A"),
    ("POST", "/api/v1/users/{user_id}/roles"): _r("A", "user"),
    ("GET", "/api/v1/users/{user_id}/sessions"): _r("A", "user"),
    ("DELETE", "/api/v1/users/{user_id}/sessions/{session_id}"): _r("A", "user", other_ids=True),
    ("DELETE", "/api/v1/users/{user_id}/sessions"): _r("A", "user"),
    ("DELETE", "/api/v1/users/{user_id}/second-factor"): _r("A", "user"),
    ("GET", "/staff/admin"): _r("A"),
    ("GET", "/staff/admin/units"): _r("A"),
    ("GET", "/staff/admin/units/new"): _r("A"),
    ("POST", "/staff/admin/units"): _r("A"),
    ("GET", "/staff/admin/units/{ref}"): _r("A", note="ref: a unit code"),
    ("POST", "/staff/admin/units/{ref}/area"): _r("A"),
    ("GET", "/staff/admin/categories"): _r("A"),
    ("GET", "/staff/admin/categories/new"): _r("A"),
    ("POST", "/staff/admin/categories"): _r("A"),
    ("GET", "/staff/admin/categories/{code}"): _r("A"),
    ("POST", "/staff/admin/categories/{code}"): _r("A"),
    ("GET", "/staff/admin/users"): _r("A"),
    ("GET", "/staff/admin/users/new"): _r("A"),
    ("POST", "/staff/admin/users"): _r("A"),
    ("GET", "/staff/admin/users/{ref}"): _r("A", note="ref: a username"),
    ("POST", "/staff/admin/users/{ref}/roles"): _r("A"),
    ("POST", "/staff/admin/users/{ref}/roles/{assignment}/remove"): _r("A"),
    ("POST", "/staff/admin/users/{ref}/active"): _r("A"),
    ("POST", "/staff/admin/users/{ref}/sessions/end"): _r(
        "A", note="users within the administrator's subtree"
    ),
    ("POST", "/staff/admin/users/{ref}/second-factor/reset"): _r("A", note="not one's own"),
    ("GET", "/staff/admin/open311"): _r("A"),
    ("POST", "/staff/admin/open311/{name}/vouches"): _r(
        "A", note="a client's name", at_root=True, other_ids=True
    ),
    ("GET", "/staff/admin/models"): _r("A"),
    ("POST", "/staff/admin/models"): _r("A", note="changes the city's model", at_root=True),
    # ---- categories: public reads, administrators' changes
    ("GET", "/api/v1/categories"): _r(PUBLIC),
    ("GET", "/api/v1/categories/{code}"): _r(PUBLIC),
    ("POST", "/api/v1/categories"): _r("A"),
    ("PATCH", "/api/v1/categories/{code}"): _r("A"),
    # ---- requests: residents report and track; staff of the units holding a request read it and act on it
    ("POST", "/api/v1/requests"): _r(PUBLIC),
    ("GET", "/api/v1/requests"): _r(SIGNED_IN, note="the caller's own or their units' requests"),
    ("GET", "/api/v1/requests/{ref}"): _r(OWN_OR_STAFF, "request"),
    ("GET", "/api/v1/requests/{ref}/events"): _r(OWN_OR_STAFF, "request"),
    ("GET", "/api/v1/requests/{ref}/routing"): _r(REQUEST_WORKERS, "request"),
    ("GET", "/api/v1/requests/{ref}/duplicates"): _r(REQUEST_WORKERS, "request"),
    ("GET", "/api/v1/requests/{ref}/deliveries"): _r(REQUEST_WORKERS, "request"),
    # Workflow steps: any reader reaches the state machine, which refuses the wrong step or role (403/409);
    # out of scope the request does not exist (404).
    ("POST", "/api/v1/requests/{ref}/answer"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/dispatch"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/sign"): _r(
        "", "request", note="the lead unit's handler (403 at a street)"
    ),
    ("POST", "/api/v1/requests/{ref}/return"): _r("", "request", note="the lead unit's handler"),
    ("POST", "/api/v1/requests/{ref}/contact"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/reply"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/review"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/close"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/reopen"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/extension"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/extension/approve"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/extension/refuse"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/supervise"): _r("SL", "request"),
    ("POST", "/api/v1/requests/{ref}/co-handle"): _r("D", "request"),
    ("POST", "/api/v1/requests/{ref}/merge"): _r("D", "request", note="into another request in scope"),
    ("POST", "/api/v1/requests/{ref}/photos"): _r("RODHS", "request"),
    ("GET", "/api/v1/requests/{ref}/photos/{photo_id}"): _r(OWN_OR_STAFF, "request"),
    ("POST", "/api/v1/requests/{ref}/photos/{photo_id}/publish"): _r("ODHS", "request"),
    ("DELETE", "/api/v1/requests/{ref}/photos/{photo_id}/publish"): _r("ODHS", "request"),
    ("POST", "/staff/requests/{number}/photos/{photo_id}/publish"): _r("ODHS", "request"),
    ("GET", "/media/photos/{name}"): _r(PUBLIC, note="published photos only, by a 192-bit random name"),
    ("POST", "/api/v1/track"): _r(PUBLIC, note="tracking number and the phone's last four digits"),
    ("POST", "/api/v1/track/review"): _r(PUBLIC),
    ("POST", "/api/v1/track/reopen"): _r(PUBLIC),
    ("GET", "/"): _r(PUBLIC),
    ("GET", "/issues"): _r(PUBLIC),
    ("POST", "/issues/{request_id}/support"): _r(
        PUBLIC, note="'me too' (identity level 1 by default: a visitor is led to /verify)"
    ),
    ("GET", "/submit"): _r(PUBLIC),
    ("GET", "/submit/suggest"): _r(PUBLIC),
    ("POST", "/submit"): _r(PUBLIC),
    ("GET", "/submit/done/{number}"): _r(PUBLIC, note="only the browser that submitted (404 else)"),
    ("GET", "/track"): _r(PUBLIC),
    ("GET", "/track/{number}"): _r("R", "request"),
    ("POST", "/track"): _r(PUBLIC),
    ("POST", "/track/review"): _r(PUBLIC),
    ("POST", "/track/reopen"): _r(PUBLIC),
    ("GET", "/staff"): _r(STAFF, note="the inbox: empty for staff who read no request"),
    ("GET", "/staff/requests/{number}"): _r(REQUEST_WORKERS, "request"),
    ("POST", "/staff/requests/{number}/act/{action}"): _r(REQUEST_WORKERS, "request"),
    ("POST", "/staff/bulk-dispatch"): _r(STAFF, note="each request dispatched is checked like a single one"),
    ("GET", "/staff/overdue"): _r(STAFF),
    ("GET", "/staff/contact-views"): _r("SA", note="views of the requests in the caller's scope"),
    ("GET", "/staff/contact-views.csv"): _r("SA"),
    # Shared verified details (identity): the people who see the request's contact details (requests.access.
    # sees_contact), not the resident themself; handlers only at the lead or a co-unit (the matrix's sit at the
    # street, a level above the lead unit, and are refused).
    ("GET", "/api/v1/requests/{number}/resident"): _r("OS", "request", note="names of the details only"),
    ("POST", "/api/v1/requests/{number}/resident/view"): _r("OS", "request", note="recorded in the view log"),
    ("GET", "/api/v1/requests/{number}/resident/views"): _r("OS", "request"),
    ("GET", "/staff/requests/{number}/resident"): _r("OS", "request"),
    ("POST", "/staff/requests/{number}/resident"): _r("OS", "request", note="recorded in the view log"),
    # ---- notifications (notify)
    ("GET", "/api/v1/notifications"): _r(SIGNED_IN),
    ("POST", "/api/v1/notifications/{notification_id}/read"): _r(SIGNED_IN, note="one's own (404 else)"),
    ("GET", "/api/v1/notifications/preferences"): _r(SIGNED_IN),
    ("PUT", "/api/v1/notifications/preferences"): _r(SIGNED_IN),
    ("GET", "/api/v1/notifications/log"): _r("SA"),
    ("GET", "/notifications"): _r(SIGNED_IN),
    ("GET", "/staff/notifications"): _r("SA"),
    # ---- webhooks: administrators
    ("GET", "/api/v1/webhooks/subscriptions"): _r("A"),
    ("POST", "/api/v1/webhooks/subscriptions"): _r("A"),
    ("DELETE", "/api/v1/webhooks/subscriptions/{subscription_id}"): _r("A"),
    ("GET", "/api/v1/webhooks/deliveries"): _r("A"),
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/replay"): _r("A"),
    ("GET", "/staff/webhooks"): _r("A"),
    ("POST", "/staff/webhooks"): _r("A"),
    ("POST", "/staff/webhooks/subscriptions/{subscription_id}/stop"): _r("A"),
    ("POST", "/staff/webhooks/deliveries/{delivery_id}/replay"): _r("A", note="the replay button"),
    # ---- publishing point, participation
    ("GET", "/api/v1/publications"): _r(PUBLIC),
    ("POST", "/api/v1/publications/notices"): _r("DHSLA", note="for a unit in the caller's scope"),
    ("POST", "/api/v1/publications/replies"): _r("DHSLA", note="for a request in the caller's scope"),
    ("GET", "/api/v1/publications/pending"): _r("SA"),
    ("POST", "/api/v1/publications/{publication_id}/moderation"): _r("SA"),
    ("GET", "/staff/publications"): _r("DHSLA"),
    ("POST", "/staff/publications/notices"): _r("DHSLA", note="for a unit in the caller's scope"),
    ("POST", "/staff/publications/replies"): _r("DHSLA", note="the lead unit's staff, with the consent"),
    ("POST", "/staff/publications/{publication_id}/moderation"): _r("SA"),
    ("GET", "/notices"): _r(PUBLIC),
    ("GET", "/notices/{publication_id}"): _r(PUBLIC),
    ("GET", "/feeds/publications.atom"): _r(PUBLIC),
    ("GET", "/api/v1/issues/{request_id}/comments"): _r(
        PUBLIC, note="every request is a public issue (masked)"
    ),
    ("POST", "/api/v1/issues/{request_id}/comments"): _r(SIGNED_IN),
    ("POST", "/api/v1/comments/{comment_id}/report"): _r(SIGNED_IN),
    ("GET", "/api/v1/comments/waiting"): _r("SA"),
    ("POST", "/api/v1/comments/{comment_id}/moderation"): _r("SA"),
    ("PUT", "/api/v1/issues/{request_id}/follow"): _r(
        SIGNED_IN, note="followers hear of steps, texts masked"
    ),
    ("DELETE", "/api/v1/issues/{request_id}/follow"): _r(SIGNED_IN),
    ("GET", "/issues/{request_id}"): _r(PUBLIC, note="the public card, texts masked"),
    ("POST", "/issues/{request_id}/comments"): _r(SIGNED_IN, note="at the identity level of 'comment'"),
    ("POST", "/issues/{request_id}/follow"): _r(SIGNED_IN),
    ("POST", "/comments/{comment_id}/report"): _r(SIGNED_IN),
    ("GET", "/staff/comments"): _r("SA"),
    ("POST", "/staff/comments/{comment_id}"): _r("SA"),
    ("GET", "/api/v1/topics"): _r(PUBLIC),
    ("GET", "/api/v1/topics/suggestions"): _r("LA", note="hot issues of the leader's unit, not yet a topic"),
    ("POST", "/api/v1/topics"): _r("LA"),
    ("POST", "/api/v1/topics/{topic_id}/vote"): _r("R"),
    ("POST", "/api/v1/topics/{topic_id}/choose"): _r("LA"),
    ("POST", "/api/v1/topics/{topic_id}/progress"): _r("HSLA"),
    ("GET", "/topics"): _r(PUBLIC),
    ("GET", "/topics/{topic_id}"): _r(PUBLIC),
    ("POST", "/topics/{topic_id}/vote"): _r("R", note="at the identity level of 'vote'"),
    ("GET", "/staff/topics"): _r(
        "HSLA", note="leaders and admins propose and choose; the units' staff report"
    ),
    ("POST", "/staff/topics"): _r("LA"),
    ("POST", "/staff/topics/{topic_id}/choose"): _r("LA"),
    ("POST", "/staff/topics/{topic_id}/decide"): _r("LA"),
    ("POST", "/staff/topics/{topic_id}/progress"): _r("HSLA"),
    # ---- dashboards (metrics) and early warning
    ("GET", "/api/v1/metrics/three-rates"): _r("SLAN"),
    ("GET", "/api/v1/metrics/operations"): _r("SLAN"),
    ("GET", "/api/v1/metrics/stages"): _r("SLAN"),
    ("GET", "/api/v1/metrics/rankings"): _r("SLAN"),
    ("GET", "/api/v1/metrics/categories"): _r("SLAN"),
    ("GET", "/api/v1/metrics/map"): _r("SLAN"),
    ("GET", "/api/v1/metrics/points"): _r("SLAN"),
    ("GET", "/api/v1/metrics/requests"): _r("SLAN"),
    ("POST", "/api/v1/metrics/exclusions"): _r("SA", note="for a request in scope (404 else)"),
    ("GET", "/dashboard"): _r("SLAN"),
    ("GET", "/dashboard/operations"): _r("SLAN"),
    ("GET", "/dashboard/rankings"): _r("SLAN"),
    ("GET", "/dashboard/categories"): _r("SLAN"),
    ("GET", "/dashboard/map"): _r("SLAN"),
    ("GET", "/dashboard/requests"): _r("SLAN"),
    ("GET", "/dashboard/exclusions"): _r("SLAN"),
    ("POST", "/dashboard/exclusions"): _r("SA"),
    ("GET", "/api/v1/warning/hot-issues"): _r("DSLAN"),
    ("GET", "/api/v1/warning/hot-issues/{issue_id}"): _r(
        "DSLAN", note="404 for an issue with no request in scope"
    ),
    ("GET", "/api/v1/warning/repeats"): _r("DSLAN"),
    ("POST", "/api/v1/warning/hot-issues/{issue_id}/rename"): _r("DLAN"),
    ("POST", "/api/v1/warning/hot-issues/{issue_id}/merge"): _r("DLAN"),
    ("POST", "/api/v1/warning/hot-issues/{issue_id}/split"): _r("DLAN"),
    # Merging requests of a hot issue in the workflow is a dispatcher's step (each request in their scope).
    ("POST", "/api/v1/warning/hot-issues/{issue_id}/merge-requests"): _r(
        "D", note="each request open and in the dispatcher's scope"
    ),
    ("GET", "/dashboard/hot"): _r("DSLAN"),
    ("GET", "/dashboard/hot/{issue_id}"): _r("DSLAN"),
    ("POST", "/dashboard/hot/{issue_id}/merge-requests"): _r("D"),
    # Alerts of the viewer's unit subtree (hot issues, bursts, repeats, sensitive words): read by the hot-issue
    # readers, acknowledged by leaders, analysts and administrators; the word list is the administrators'.
    ("GET", "/api/v1/warning/alerts"): _r("DSLAN"),
    ("POST", "/api/v1/warning/alerts/{alert_id}/acknowledge"): _r(
        "LAN", note="an alert of the unit's subtree"
    ),
    ("GET", "/api/v1/warning/sensitive-words"): _r("A"),
    ("POST", "/api/v1/warning/sensitive-words"): _r("A"),
    ("DELETE", "/api/v1/warning/sensitive-words/{word_id}"): _r("A"),
    # Outside posts (channel feed): feeds and uploaded board exports, managed by analysts and administrators.
    ("GET", "/api/v1/warning/feeds"): _r("AN"),
    ("POST", "/api/v1/warning/feeds"): _r("AN", note="a unit they cover, if one is given"),
    ("POST", "/api/v1/warning/posts"): _r("AN", note="a unit they cover, if one is given"),
    ("GET", "/api/v1/warning/proactive"): _r(
        "DSLAN", note="expected problems per street, no residents' data"
    ),
    ("GET", "/dashboard/hot/alerts"): _r("DSLAN"),
    ("POST", "/dashboard/hot/alerts/{alert_id}/acknowledge"): _r("LAN"),
    ("GET", "/dashboard/hot/words"): _r("A"),
    ("POST", "/dashboard/hot/words"): _r("A"),
    ("GET", "/dashboard/hot/proactive"): _r("DSLAN"),
    # ---- Open311 GeoReport v2: public reads, writes by API key (checked in test_open311)
    ("GET", "/api/v1/open311/clients"): _r("A"),
    ("PUT", "/api/v1/open311/clients/{name}/vouches"): _r("A", at_root=True, other_ids=True),
    ("GET", "/open311/v2/discovery.{fmt}"): _r(PUBLIC),
    ("GET", "/open311/v2/services.{fmt}"): _r(PUBLIC),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): _r(PUBLIC),
    ("POST", "/open311/v2/requests.{fmt}"): _r("", note="an API key (403 without)"),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): _r(PUBLIC),
    ("GET", "/open311/v2/requests.{fmt}"): _r(PUBLIC, note="texts masked as public"),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): _r(PUBLIC, note="texts masked as public"),
    ("GET", "/open311/v2/servicerequestupdates.{fmt}"): _r("", note="an API key (403 without)"),
    ("POST", "/open311/v2/servicerequestupdates.{fmt}"): _r("", note="an API key bound to a unit"),
    ("GET", "/open311/v2/{rest:path}"): _r(PUBLIC, note="404 in Open311's error format"),
    ("POST", "/open311/v2/{rest:path}"): _r(PUBLIC),
    ("PUT", "/open311/v2/{rest:path}"): _r(PUBLIC),
    ("PATCH", "/open311/v2/{rest:path}"): _r(PUBLIC),
    ("DELETE", "/open311/v2/{rest:path}"): _r(PUBLIC),
    # ---- credit supervision: public lists and notices; officers decide; departments record and inspect
    ("GET", "/api/v1/credit/entities"): _r(PUBLIC),
    ("GET", "/api/v1/credit/entities/{uscc}"): _r(PUBLIC),
    ("GET", "/api/v1/credit/entities/{uscc}/record"): _r("AC"),
    ("POST", "/api/v1/credit/entities"): _r("AC"),
    ("POST", "/api/v1/credit/entities/{uscc}/records"): _r("DHSLAC"),
    ("POST", "/api/v1/credit/records/{record_id}/repair"): _r("AC"),
    ("GET", "/api/v1/credit/lookup/{uscc}"): _r(STAFF),
    ("GET", "/api/v1/credit/lists/{list_kind}"): _r(PUBLIC),
    ("GET", "/api/v1/credit/measures"): _r(PUBLIC),
    ("POST", "/api/v1/credit/records/{record_id}/objections"): _r("DHSLAC"),
    ("GET", "/api/v1/credit/objections"): _r("AC"),
    ("POST", "/api/v1/credit/objections/{objection_id}/decision"): _r("AC"),
    ("POST", "/api/v1/credit/records/{record_id}/repair-applications"): _r("DHSLAC"),
    ("GET", "/api/v1/credit/repair-applications"): _r("AC"),
    ("POST", "/api/v1/credit/repair-applications/{application_id}/decision"): _r("AC"),
    ("POST", "/api/v1/credit/entities/{uscc}/complaints"): _r("DHSLAC"),
    ("POST", "/api/v1/credit/complaints/{link_id}/decision"): _r("AC"),
    ("POST", "/api/v1/credit/inspectors"): _r("DHSLAC"),
    ("POST", "/api/v1/credit/inspectors/{inspector_id}/conflicts"): _r("DHSLAC"),
    ("POST", "/api/v1/credit/plans"): _r("DHSLAC"),
    ("GET", "/api/v1/credit/plans"): _r(PUBLIC),
    ("GET", "/api/v1/credit/plans/{plan_id}"): _r(PUBLIC),
    ("GET", "/api/v1/credit/plans/{plan_id}/pool"): _r(PUBLIC),
    ("POST", "/api/v1/credit/tasks/{task_id}/result"): _r(SIGNED_IN, note="the task's inspector (404 else)"),
    ("GET", "/api/v1/credit/records"): _r("DHSLAC"),
    ("GET", "/api/v1/credit/dashboard"): _r("DHSLAC"),
    ("GET", "/credit/staff"): _r("DHSLAC"),
    ("POST", "/credit/staff/records"): _r("DHSLAC", note="department staff for their own unit"),
    ("GET", "/credit/staff/entities"): _r(
        PUBLIC, note="only a redirect to the record page, which is guarded"
    ),
    ("GET", "/credit/staff/entities/{uscc}"): _r("AC", note="an entity's full record and grade history"),
    ("POST", "/credit/staff/decide"): _r("AC"),
    ("GET", "/credit/lists/{list_kind}"): _r(PUBLIC),
    ("GET", "/credit/plans/{plan_id}"): _r(PUBLIC),
    ("GET", "/credit"): _r(PUBLIC),
    ("GET", "/credit/{uscc}"): _r(PUBLIC),
    ("GET", "/credit/{uscc}/records/{record_id}/objection"): _r(
        SIGNED_IN, other_ids=True, note="identity level 2 (object_credit_record); others are led to /verify"
    ),
    ("POST", "/credit/{uscc}/records/{record_id}/objection"): _r(
        SIGNED_IN, other_ids=True, note="the entity objects itself, under a verified real name"
    ),
    ("GET", "/credit/rules"): _r(PUBLIC, note="the repair periods' rule sets"),
    # ---- knowledge base: published articles are public; editors write
    ("GET", "/api/v1/knowledge/articles"): _r(PUBLIC),
    ("POST", "/api/v1/knowledge/articles"): _r("KA"),
    ("GET", "/api/v1/knowledge/articles/{article_id}"): _r(PUBLIC, note="drafts only for their editors"),
    ("PUT", "/api/v1/knowledge/articles/{article_id}"): _r("KA"),
    ("POST", "/api/v1/knowledge/articles/{article_id}/publish"): _r("KA"),
    ("POST", "/api/v1/knowledge/articles/{article_id}/withdraw"): _r("KA"),
    ("GET", "/api/v1/knowledge/review"): _r(SIGNED_IN, note="articles the caller edits (empty for others)"),
    ("GET", "/api/v1/knowledge/report"): _r(STAFF),
    ("GET", "/api/v1/knowledge/articles/{article_id}/history"): _r(PUBLIC, note="of articles one may read"),
    ("GET", "/api/v1/knowledge/suggest"): _r(PUBLIC),
    ("GET", "/staff/knowledge"): _r(STAFF),
    ("GET", "/staff/knowledge/new"): _r(STAFF),
    ("GET", "/staff/knowledge/report"): _r(STAFF),
    ("GET", "/staff/knowledge/{article_id:int}"): _r(STAFF),
    ("POST", "/staff/knowledge/new"): _r("KA"),
    ("POST", "/staff/knowledge/{article_id:int}"): _r("KA"),
    ("GET", "/staff/intake"): _r(STAFF),
    ("GET", "/staff/intake/answers"): _r(STAFF),
    ("GET", "/staff/intake/caller"): _r(
        STAFF, note="the caller's requests: only call takers (ODSA), in scope"
    ),
    ("POST", "/staff/intake"): _r(STAFF, note="the request is taken as the caller's"),
    ("GET", "/knowledge/hint"): _r(PUBLIC),
    ("POST", "/knowledge/hint/feedback"): _r(PUBLIC),
    # ---- open data: public catalogue (CKAN, DCAT); publishers of the dataset's unit change it
    ("POST", "/api/v1/opendata/datasets"): _r("PA"),
    ("GET", "/api/v1/opendata/datasets/{ref}"): _r(PUBLIC, note="published datasets; drafts for publishers"),
    ("PUT", "/api/v1/opendata/datasets/{ref}"): _r("PA"),
    ("POST", "/api/v1/opendata/datasets/{ref}/publish"): _r("PA"),
    ("POST", "/api/v1/opendata/datasets/{ref}/withdraw"): _r("PA"),
    ("GET", "/api/v1/opendata/datasets/{ref}/history"): _r("PA"),
    ("GET", "/api/v1/opendata/datasets/{ref}/usage"): _r(
        PUBLIC, note="counts per day, of datasets one may read"
    ),
    ("POST", "/api/v1/opendata/upload"): _r("PA"),
    ("POST", "/api/v1/opendata/datasets/{ref}/links"): _r("PA"),
    ("PUT", "/api/v1/opendata/resources/{resource_id}/fields"): _r("PA"),
    ("POST", "/api/v1/opendata/resources/{resource_id}/mask"): _r("PA"),
    ("POST", "/api/v1/opendata/datasets/{ref}/applications"): _r(
        SIGNED_IN, note="applying for conditional data"
    ),
    ("GET", "/api/v1/opendata/applications"): _r(SIGNED_IN, note="one's own, and publishers' units'"),
    ("POST", "/api/v1/opendata/applications/{application_id}/decision"): _r("PA"),
    ("GET", "/dataset/{ref}/resource/{resource_id}/download/{filename}"): _r(PUBLIC),
    ("GET", "/api/3/action/{name}"): _r(PUBLIC),
    ("POST", "/api/3/action/{name}"): _r(PUBLIC),
    ("GET", "/api/action/{name}"): _r(PUBLIC),
    ("POST", "/api/action/{name}"): _r(PUBLIC),
    ("GET", "/catalog.{extension}"): _r(PUBLIC),
    ("GET", "/data.json"): _r(PUBLIC, note="DCAT-US, published datasets"),
    ("GET", "/dataset/{ref}.{extension}"): _r(PUBLIC),
    ("GET", "/data"): _r(PUBLIC),
    ("GET", "/data/new"): _r("PA", note="404 for others, as if the page did not exist"),
    ("POST", "/data/new"): _r("PA"),
    ("GET", "/data/{name}"): _r(PUBLIC),
    ("POST", "/data/upload"): _r("PA"),
    ("POST", "/data/{name}/{step}"): _r("PA"),
}
