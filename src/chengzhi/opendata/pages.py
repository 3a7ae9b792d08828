"""Open-data pages (zh/en): browse and search the catalogue, a dataset's page (metadata, open level, quality and
its explanation, resources, history), and for data publishers: create, upload tables, mask personal data, publish,
withdraw, decide applications; for signed-in readers: apply for a conditional dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import N_, message
from chengzhi.opendata import access, dicts, resources, service
from chengzhi.opendata.models import AccessApplication, Dataset, OpenLevel, Resource
from chengzhi.opendata.quality import EXPLAIN
from chengzhi.opendata.search import SearchParams, SearchQueryError, package_search
from chengzhi.opendata.vocab import FREQUENCIES, LICENCES, OPEN_LEVEL_ZH, OPEN_LEVELS, THEMES
from chengzhi.org import levels
from chengzhi.org.queries import units_by_id
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import Chrome, chrome, csrf_ok, not_found, page_actor, render

router = APIRouter(include_in_schema=False)
PAGE_ROWS = 20
UPLOAD_PAGE = "/data/upload"
# Words the templates translate with t(): statuses and history actions.
LABELS = (
    N_("draft"),
    N_("published"),
    N_("withdrawn"),
    N_("pending"),
    N_("approved"),
    N_("rejected"),
    N_("created"),
    N_("edited"),
    N_("resource_added"),
    N_("resource_reloaded"),
    N_("refreshed"),
)


@dataclass
class Row:
    name: str
    title: str
    unit: str
    level: str
    level_code: str
    modified: Any
    formats: list[str]


@dataclass
class ListPage:
    q: str
    level: str
    rows: list[Row]
    count: int
    start: int
    levels: dict[str, str]
    may_create: bool
    error: str = ""


@dataclass
class DatasetPage:
    ds: Dataset
    unit: str
    level: str
    licence: str
    frequency: str
    themes: list[str]
    findings: list[str]
    resources: list[dict[str, Any]]
    may_read: bool
    may_publish: bool
    may_apply: bool
    history: list[Any] = field(default_factory=list)
    applications: list[AccessApplication] = field(default_factory=list)
    usage: list[Any] = field(default_factory=list)  # UsageDay rows, the last 30 days with any use
    error: str = ""
    notice: str = ""


@dataclass
class NewPage:
    units: list[tuple[int, str]]
    levels: dict[str, str]
    licences: dict[str, str]
    frequencies: dict[str, str]
    themes: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    error: str = ""


def _level_name(lang: str, level: OpenLevel) -> str:
    return (
        f"{OPEN_LEVEL_ZH[level]} · {gettext('en', OPEN_LEVELS[level].title)}"
        if lang == "en"
        else OPEN_LEVEL_ZH[level]
    )


def _levels(lang: str) -> dict[str, str]:
    return {level.value: _level_name(lang, level) for level in OpenLevel}


@router.get("/data")
def browse(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    q = (request.query_params.get("q") or "").strip()[:200]
    level = request.query_params.get("level", "")
    start = max(
        int(request.query_params.get("start", "0") or 0)
        if request.query_params.get("start", "0").isdigit()
        else 0,
        0,
    )
    fq = f"open_level:{level}" if level in OpenLevel.__members__ else ""
    error = ""
    try:
        result = package_search(
            session,
            actor,
            SearchParams(q=q, fq=fq, rows=PAGE_ROWS, start=start, include_private=actor.is_staff),
        )
    except SearchQueryError:
        result = package_search(session, actor, SearchParams(rows=PAGE_ROWS))
        error = message("bad_request", frame.lang)
    units = units_by_id(session, dicts.unit_ids(result.datasets))
    rows = [
        Row(
            name=ds.name,
            title=ds.title_en if frame.lang == "en" and ds.title_en else ds.title,
            unit=units[ds.unit_id].name(frame.lang) if ds.unit_id in units else "",
            level=_level_name(frame.lang, OpenLevel(ds.open_level)),
            level_code=ds.open_level.value,
            modified=ds.modified_at,
            formats=sorted({("CSV" if r.datastore_active else r.format) for r in ds.resources}),
        )
        for ds in result.datasets
    ]
    page = ListPage(
        q=q,
        level=level,
        rows=rows,
        count=result.count,
        start=start,
        levels=_levels(frame.lang),
        may_create=bool(actor.paths_for(*service.PUBLISHER_ROLES)),
        error=error,
    )
    return render(request, "opendata/list.html", page, frame)


def _resource_view(request: Request, res: Resource) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "id": res.id,
        "name": res.name,
        "format": "CSV" if res.datastore_active else res.format,
        "url": dicts.resource_url(base, res),
        "json_url": f"{base}/dataset/{res.dataset_id}/resource/{res.id}/download/{res.id}.json"
        if res.datastore_active
        else "",
        "rows": res.row_count if res.datastore_active else None,
        "fields": res.fields,
        "score": (res.quality or {}).get("score"),
        "personal": bool((res.quality or {}).get("personal_data")),
        "masked": bool((res.quality or {}).get("masked")),
    }


def _finding_text(lang: str, finding: dict[str, Any]) -> str:
    template = EXPLAIN.get(str(finding.get("check")))
    if template is None:
        return ""
    params = {k: v for k, v in finding.items() if k != "check" and not isinstance(v, dict | list)}
    return gettext(lang, template, **params)


def _dataset_page(
    request: Request, session: Any, frame: Chrome, actor: Any, ds: Dataset, **extra: str
) -> Response:
    lang = frame.lang
    units = units_by_id(session, dicts.unit_ids([ds]))
    publisher = not actor.is_anonymous and service.may_publish(session, actor, ds.unit_id)
    licence = LICENCES.get(ds.license_id)
    frequency = FREQUENCIES.get(ds.frequency)
    page = DatasetPage(
        ds=ds,
        unit=units[ds.unit_id].name(lang) if ds.unit_id in units else "",
        level=_level_name(lang, OpenLevel(ds.open_level)),
        licence=gettext(lang, licence.title) if licence else ds.license_id,
        frequency=gettext(lang, frequency.title) if frequency else ds.frequency,
        themes=[gettext(lang, THEMES[t].title) for t in ds.themes if t in THEMES],
        findings=[t for f in (ds.quality or {}).get("findings", []) if (t := _finding_text(lang, f))],
        resources=[_resource_view(request, r) for r in ds.resources],
        may_read=service.may_read_data(session, actor, ds),
        may_publish=publisher,
        may_apply=(
            not actor.is_anonymous
            and ds.open_level == OpenLevel.conditional
            and not service.may_read_data(session, actor, ds)
        ),
        history=service.history(session, ds) if publisher else [],
        applications=[a for a in access.applications_for(session, actor) if a.dataset_id == ds.id],
        usage=service.usage_by_day(session, ds.id),
        **extra,
    )
    status = 409 if extra.get("error") else 200
    return render(request, "opendata/dataset.html", page, frame, status_code=status)


@router.get("/data/new")
def new_form(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if not actor.paths_for(*service.PUBLISHER_ROLES):
        return not_found(request, frame, message("forbidden", frame.lang))
    return render(request, "opendata/new.html", _new_page(session, actor, frame), frame)


def _new_page(
    session: Any, actor: Any, frame: Chrome, form: dict[str, str] | None = None, error: str = ""
) -> NewPage:
    lang = frame.lang
    units = units_by_id(session, actor.units_for(*service.PUBLISHER_ROLES))
    return NewPage(
        units=[(u.id, u.name(lang)) for u in units.values()],
        levels=_levels(lang),
        licences={k: gettext(lang, t.title) for k, t in LICENCES.items()},
        frequencies={k: gettext(lang, t.title) for k, t in FREQUENCIES.items()},
        themes={k: gettext(lang, t.title) for k, t in THEMES.items()},
        form=form or {},
        error=error,
    )


@router.post("/data/new")
async def create(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(request, form):
        return render(
            request,
            "opendata/new.html",
            _new_page(session, actor, frame, values, message("csrf_failed", frame.lang)),
            frame,
            status_code=403,
        )
    try:
        data = service.DatasetInput(
            name=values.get("name", ""),
            title=values.get("title", ""),
            title_en=values.get("title_en") or None,
            notes=values.get("notes", ""),
            unit_id=int(values.get("unit_id", "0") or 0),
            open_level=OpenLevel(values.get("open_level", "unconditional")),
            license_id=values.get("license_id", "cc-by-4.0"),
            frequency=values.get("frequency", "irregular"),
            themes=[v for v in form.getlist("groups") if isinstance(v, str)],
            tags=[t for t in values.get("tags", "").replace("，", ",").split(",")],
            contact_name=values.get("contact_name", ""),
            contact_email=values.get("contact_email", ""),
        )
        ds = service.create_dataset(session, actor, data)
        session.commit()
    except (ChengzhiError, ValueError) as exc:
        session.rollback()
        text = (
            message(exc.code, frame.lang, exc.params)
            if isinstance(exc, ChengzhiError)
            else message("bad_request", frame.lang)
        )
        return render(
            request,
            "opendata/new.html",
            _new_page(session, actor, frame, values, text),
            frame,
            # A refusal (a role, a unit out of scope) says so: 403, not 422.
            status_code=exc.status_code if isinstance(exc, ChengzhiError) else 422,
        )
    return RedirectResponse(f"/data/{ds.name}", status_code=303)


@router.get("/data/{name}")
def dataset_page(name: str, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    ds = service.find_dataset(session, name[:100])
    if ds is None or not service.may_see(session, actor, ds, withdrawn_ok=False):
        return not_found(
            request, frame, message("opendata_dataset_not_found", frame.lang, {"ref": name[:100]})
        )
    notice = request.query_params.get("done", "")
    return _dataset_page(
        request, session, frame, actor, ds, notice=gettext(frame.lang, DONE[notice]) if notice in DONE else ""
    )


DONE = {
    "published": N_("Published."),
    "withdrawn": N_("Withdrawn."),
    "uploaded": N_("Uploaded and checked."),
    "masked": N_("Personal data masked."),
    "applied": N_("Application sent; the publishing unit will decide."),
    "decided": N_("Decision recorded."),
}


@router.post(UPLOAD_PAGE)
async def upload(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The upload form posts here (one address, so that its larger body limit can be set in the app)."""
    form = await request.form()
    name = form.get("dataset")
    return await act(name if isinstance(name, str) else "", "upload", request, session, settings)


@router.post("/data/{name}/{step}")
async def act(name: str, step: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """publish, withdraw, mask, apply, decide (and upload, above): one form each on the dataset's page."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    ds = service.find_dataset(session, name[:100])
    if ds is None or not service.may_see(session, actor, ds) or step not in DONE_STEPS:
        return not_found(
            request, frame, message("opendata_dataset_not_found", frame.lang, {"ref": name[:100]})
        )
    if step == "apply" and not actor.is_anonymous and not levels.allowed(actor, settings, "apply_open_data"):
        # The city asks for a verified real name (by default) before an application: through the step-up and back.
        needed = levels.level_needed(settings, "apply_open_data")
        return RedirectResponse(levels.step_up_url(needed, f"/data/{ds.name}#apply"), status_code=303)
    form = await request.form()
    if not csrf_ok(request, form):
        return _dataset_page(request, session, frame, actor, ds, error=message("csrf_failed", frame.lang))
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        if step == "publish":
            service.publish_dataset(session, actor, ds)
        elif step == "withdraw":
            service.withdraw_dataset(session, actor, ds)
        elif step == "upload":
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise ChengzhiError("opendata_format_unsupported", formats="CSV, XLSX")
            resources.add_file(
                session, settings, actor, ds, upload.filename, upload.file, name=values.get("name", "")
            )
        elif step == "mask":
            res = next((r for r in ds.resources if r.id == values.get("resource_id")), None)
            if res is None:
                raise ChengzhiError("opendata_resource_not_found", ref=values.get("resource_id", ""))
            resources.reload(session, settings, actor, res, mask=True)
        elif step == "apply":
            access.apply(session, actor, ds, values.get("purpose", ""), values.get("agreement") == "yes")
        else:
            application = access.get_application(session, int(values.get("application_id", "0") or 0))
            access.decide(
                session, actor, application, values.get("approve") == "yes", values.get("reason", "")
            )
        session.commit()
    except (ChengzhiError, ValueError) as exc:
        session.rollback()
        text = (
            message(exc.code, frame.lang, exc.params)
            if isinstance(exc, ChengzhiError)
            else message("bad_request", frame.lang)
        )
        return _dataset_page(request, session, frame, actor, ds, error=text)
    return RedirectResponse(f"/data/{ds.name}?done={DONE_STEPS[step]}", status_code=303)


DONE_STEPS = {
    "publish": "published",
    "withdraw": "withdrawn",
    "upload": "uploaded",
    "mask": "masked",
    "apply": "applied",
    "decide": "decided",
}
