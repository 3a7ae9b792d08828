"""The publishers' REST API under /api/v1/opendata (datasets, resources, publication, applications) and the
downloads of resources at CKAN's addresses (`/dataset/{id}/resource/{rid}/download/{file}`), streamed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from chengzhi.config import Settings
from chengzhi.db import MAX_ID, get_engine
from chengzhi.deps import ActorDep, SessionDep, SettingsDep, UserDep
from chengzhi.errors import Forbidden, NotFound
from chengzhi.opendata import access, datastore, dicts, resources, service
from chengzhi.opendata.models import AccessApplication, DatasetVersion, OpenLevel, Resource
from chengzhi.org import levels
from chengzhi.org.queries import units_by_id

router = APIRouter(prefix="/api/v1/opendata", tags=["opendata"])
downloads = APIRouter(tags=["opendata"])
UPLOAD_PATH = "/api/v1/opendata/upload"


class DatasetIn(BaseModel):
    name: str = Field(min_length=2, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    unit_id: int = Field(ge=1, le=MAX_ID)
    open_level: OpenLevel = OpenLevel.unconditional
    notes: str = Field(default="", max_length=20000)
    title_en: str | None = Field(default=None, max_length=300)
    license_id: str = Field(default="cc-by-4.0", max_length=40)
    frequency: str = Field(default="irregular", max_length=20)
    groups: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=30)
    temporal_start: dt.date | None = None
    temporal_end: dt.date | None = None
    spatial_unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    contact_name: str = Field(default="", max_length=120)
    contact_email: str = Field(default="", max_length=200)

    def as_input(self) -> service.DatasetInput:
        return service.DatasetInput(
            name=self.name,
            title=self.title,
            unit_id=self.unit_id,
            open_level=self.open_level,
            notes=self.notes,
            title_en=self.title_en,
            license_id=self.license_id,
            frequency=self.frequency,
            themes=self.groups,
            tags=self.tags,
            temporal_start=self.temporal_start,
            temporal_end=self.temporal_end,
            spatial_unit_id=self.spatial_unit_id,
            contact_name=self.contact_name,
            contact_email=self.contact_email,
        )


class LinkIn(BaseModel):
    url: str = Field(min_length=8, max_length=1000)
    name: str = Field(default="", max_length=300)
    format: str = Field(default="HTML", max_length=20)
    description: str = Field(default="", max_length=5000)


class FieldIn(BaseModel):
    id: str = Field(max_length=200)
    type: str = Field(max_length=20)


class FieldsIn(BaseModel):
    fields: list[FieldIn] = Field(max_length=datastore.MAX_COLUMNS)


class ApplicationIn(BaseModel):
    purpose: str = Field(min_length=1, max_length=2000)
    agreement_accepted: bool


class DecisionIn(BaseModel):
    approve: bool
    reason: str = Field(default="", max_length=2000)
    days: int = Field(default=access.DEFAULT_DAYS, ge=1, le=access.MAX_DAYS)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _package(request: Request, session: Any, ds: Any) -> dict[str, Any]:
    out = dicts.package_dict(ds, units_by_id(session, dicts.unit_ids([ds])), _base(request))
    out["quality"] = ds.quality
    return out


def version_out(v: DatasetVersion) -> dict[str, Any]:
    return {
        "seq": v.seq,
        "version": v.version,
        "action": v.action,
        "actor_id": v.actor_id,
        "changed": v.changed,
        "at": v.created_at.isoformat(),
        "snapshot": v.snapshot,
    }


def application_out(a: AccessApplication) -> dict[str, Any]:
    return {
        "id": a.id,
        "dataset_id": a.dataset_id,
        "user_id": a.user_id,
        "purpose": a.purpose,
        "status": a.status.value,
        "reason": a.reason,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        "expires_at": a.expires_at.isoformat() if a.expires_at else None,
        "created_at": a.created_at.isoformat(),
    }


@router.post("/datasets", status_code=201, summary="Create a dataset (a draft)")
def create(body: DatasetIn, request: Request, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    ds = service.create_dataset(session, actor, body.as_input())
    session.commit()
    return _package(request, session, ds)


@router.get("/datasets/{ref}", summary="A dataset with its quality record")
def show(ref: str, request: Request, session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    return _package(request, session, service.get_dataset(session, actor, ref))


@router.put("/datasets/{ref}", summary="Edit a dataset (a new version)")
def edit(ref: str, body: DatasetIn, request: Request, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    ds = service.get_dataset(session, actor, ref)
    service.update_dataset(session, actor, ds, body.as_input())
    session.commit()
    return _package(request, session, ds)


@router.post("/datasets/{ref}/publish", summary="Publish a dataset")
def publish(ref: str, request: Request, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    ds = service.get_dataset(session, actor, ref)
    service.publish_dataset(session, actor, ds)
    session.commit()
    return _package(request, session, ds)


@router.post("/datasets/{ref}/withdraw", summary="Withdraw a published dataset")
def withdraw(ref: str, request: Request, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    ds = service.get_dataset(session, actor, ref)
    service.withdraw_dataset(session, actor, ds)
    session.commit()
    return _package(request, session, ds)


@router.get("/datasets/{ref}/history", summary="A dataset's versions")
def history(ref: str, session: SessionDep, actor: UserDep) -> list[dict[str, Any]]:
    ds = service.get_dataset(session, actor, ref)
    service.require_publisher(session, actor, ds.unit_id)
    return [version_out(v) for v in service.history(session, ds)]


@router.get("/datasets/{ref}/usage", summary="Downloads and API reads of a dataset's data, per day")
def usage(
    ref: str, session: SessionDep, actor: ActorDep, days: int = Query(default=30, ge=1, le=366)
) -> dict[str, Any]:
    ds = service.get_dataset(session, actor, ref)
    rows = service.usage_by_day(session, ds.id, days)
    return {
        "dataset": ds.name,
        "downloads": ds.downloads,
        "api_calls": ds.api_calls,
        "days": [
            {"day": u.day.isoformat(), "downloads": u.downloads, "api_calls": u.api_calls} for u in rows
        ],
    }


@router.post(UPLOAD_PATH.removeprefix("/api/v1/opendata"), status_code=201, summary="Upload a resource file")
def upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: UserDep,
    dataset: Annotated[str, Form(max_length=100)],
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form(max_length=300)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    mask: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    ds = service.get_dataset(session, actor, dataset)
    res = resources.add_file(
        session,
        settings,
        actor,
        ds,
        file.filename or "upload.csv",
        file.file,
        name=name,
        description=description,
        mask=mask,
    )
    session.commit()
    return {**dicts.resource_dict(_base(request), res), "fields": res.fields, "quality": res.quality}


@router.post("/datasets/{ref}/links", status_code=201, summary="Add a link resource")
def link(ref: str, body: LinkIn, request: Request, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    ds = service.get_dataset(session, actor, ref)
    res = resources.add_link(session, actor, ds, body.url, body.name, body.format, body.description)
    session.commit()
    return dicts.resource_dict(_base(request), res)


def _own_resource(session: Any, actor: Any, resource_id: str) -> Resource:
    res: Resource | None = session.get(Resource, resource_id)
    if res is None:
        raise NotFound("opendata_resource_not_found", ref=resource_id)
    service.get_dataset(session, actor, res.dataset_id)
    return res


@router.put("/resources/{resource_id}/fields", summary="Set a table's column types (reloads it)")
def set_fields(
    resource_id: str, body: FieldsIn, session: SessionDep, settings: SettingsDep, actor: UserDep
) -> dict[str, Any]:
    res = _own_resource(session, actor, resource_id)
    quality = resources.reload(session, settings, actor, res, fields=[f.model_dump() for f in body.fields])
    session.commit()
    return {"fields": res.fields, "quality": quality}


@router.post("/resources/{resource_id}/mask", summary="Mask the personal data found in a table (reloads it)")
def mask(resource_id: str, session: SessionDep, settings: SettingsDep, actor: UserDep) -> dict[str, Any]:
    res = _own_resource(session, actor, resource_id)
    quality = resources.reload(session, settings, actor, res, mask=True)
    session.commit()
    return {"fields": res.fields, "quality": quality}


@router.post(
    "/datasets/{ref}/applications", status_code=201, summary="Apply for a conditional dataset's data"
)
def apply(
    ref: str, body: ApplicationIn, session: SessionDep, settings: SettingsDep, actor: UserDep
) -> dict[str, Any]:
    levels.require_level(actor, settings, "apply_open_data")
    ds = service.get_dataset(session, actor, ref, withdrawn_ok=False)
    application = access.apply(session, actor, ds, body.purpose, body.agreement_accepted)
    session.commit()
    return application_out(application)


@router.get("/applications", summary="My applications, and those my units decide")
def applications(session: SessionDep, actor: UserDep) -> list[dict[str, Any]]:
    return [application_out(a) for a in access.applications_for(session, actor)]


@router.post("/applications/{application_id}/decision", summary="Approve or reject an application")
def decision(
    application_id: Annotated[int, Field(ge=1, le=MAX_ID)],
    body: DecisionIn,
    session: SessionDep,
    actor: UserDep,
) -> dict[str, Any]:
    application = access.get_application(session, application_id)
    access.decide(session, actor, application, body.approve, body.reason, body.days)
    session.commit()
    return application_out(application)


def download_response(session: Any, settings: Settings, actor: Any, res: Resource, fmt: str) -> Response:
    """A resource's data for a reader allowed to read it: a table streamed as CSV or JSON, else the file."""
    ds = service.get_dataset(session, actor, res.dataset_id, withdrawn_ok=False)
    if not service.may_read_data(session, actor, ds):
        raise Forbidden("opendata_application_required")
    service.count_use(session, ds.id, download=True, day=service.city_day(settings))
    session.commit()
    if res.datastore_active:
        engine = get_engine(settings.database_url)
        rows = datastore.stream_rows(engine.connect, res)
        if fmt == "json":
            return StreamingResponse(datastore.json_chunks(res, rows), media_type="application/json")
        headers = {"Content-Disposition": f'attachment; filename="{res.id}.csv"'}
        return StreamingResponse(
            datastore.csv_chunks(res, rows), media_type="text/csv; charset=utf-8", headers=headers
        )
    if res.url:
        return Response(status_code=307, headers={"Location": res.url})
    return FileResponse(resources.stored_file(settings, res), filename=res.stored_path)


@downloads.get("/dataset/{ref}/resource/{resource_id}/download/{filename}", summary="Download a resource")
def download(
    ref: str,
    resource_id: str,
    filename: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    format: str = Query(default="", pattern="^(|csv|json)$"),
) -> Response:
    res = session.get(Resource, resource_id)
    if res is None or ref not in (res.dataset_id, res.dataset.name):
        raise NotFound("opendata_resource_not_found", ref=resource_id)
    fmt = format or ("json" if filename.endswith(".json") else "csv")
    return download_response(session, settings, actor, res, fmt)
