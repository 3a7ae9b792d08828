"""The catalogue in DCAT-AP 3 (rdflib): `/catalog.{ttl,jsonld,rdf}` (paged like ckanext-dcat, with hydra, and
`modified_since`), `/dataset/{id}.{ttl,jsonld,rdf}`. The open level is `dct:accessRights` (the EU access-right
table: PUBLIC, RESTRICTED, NON_PUBLIC); licences, frequencies, themes and file types are the EU authority tables'
IRIs, typed as the DCAT-AP shapes expect so that the output validates with zero violations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.deps import ActorDep, SessionDep
from chengzhi.errors import Invalid, NotFound
from chengzhi.opendata import dicts, service
from chengzhi.opendata.models import Dataset, OpenLevel, Resource
from chengzhi.opendata.search import visible
from chengzhi.opendata.vocab import FORMATS, FREQUENCIES, LICENCES, OPEN_LEVELS, THEMES
from chengzhi.org.models import Unit
from chengzhi.org.queries import units_by_id
from chengzhi.org.service import ANONYMOUS

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
OWL = Namespace("http://www.w3.org/2002/07/owl#")
IANA = "http://www.iana.org/assignments/media-types/"
LANGUAGE = URIRef("http://publications.europa.eu/resource/authority/language/ZHO")
THEME_SCHEME = URIRef("http://publications.europa.eu/resource/authority/data-theme")
PAGE_SIZE = 100
MEDIA = {
    "ttl": ("text/turtle", "turtle"),
    "jsonld": ("application/ld+json", "json-ld"),
    "rdf": ("application/rdf+xml", "xml"),
}

router = APIRouter(tags=["dcat"])


def _graph() -> Graph:
    graph = Graph()
    for prefix, namespace in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("vcard", VCARD),
        ("skos", SKOS),
        ("hydra", HYDRA),
        ("adms", ADMS),
        ("owl", OWL),
    ):
        graph.bind(prefix, namespace)
    return graph


def _typed(graph: Graph, iri: str, kind: URIRef, label: str | None = None) -> URIRef:
    node = URIRef(iri)
    graph.add((node, RDF.type, kind))
    if label:
        graph.add((node, SKOS.prefLabel, Literal(label, lang="en")))
    return node


def _when(value: dt.datetime) -> Literal:
    return Literal(value.astimezone(dt.UTC).replace(microsecond=0).isoformat(), datatype=XSD.dateTime)


def _agent(graph: Graph, base: str, unit: Unit) -> URIRef:
    node = URIRef(f"{base}/organization/{unit.code}")
    graph.add((node, RDF.type, FOAF.Agent))
    graph.add((node, FOAF.name, Literal(unit.name_zh, lang="zh")))
    graph.add((node, FOAF.name, Literal(unit.name_en, lang="en")))
    return node


def _distribution(graph: Graph, base: str, ds: Dataset, res: Resource) -> URIRef:
    node = URIRef(f"{base}/dataset/{ds.id}/resource/{res.id}")
    graph.add((node, RDF.type, DCAT.Distribution))
    url = _typed(graph, dicts.resource_url(base, res), RDFS.Resource)
    graph.add((node, DCAT.accessURL, url))
    if not res.url:
        graph.add((node, DCAT.downloadURL, url))
    graph.add((node, DCTERMS.title, Literal(res.name, lang="zh")))
    if res.description:
        graph.add((node, DCTERMS.description, Literal(res.description, lang="zh")))
    fmt = "CSV" if res.datastore_active else (res.format or "").upper()
    if fmt in FORMATS:
        media, file_type = FORMATS[fmt]
        graph.add((node, DCTERMS["format"], _typed(graph, file_type, DCTERMS.MediaTypeOrExtent)))
        graph.add((node, DCAT.mediaType, _typed(graph, IANA + media, DCTERMS.MediaType)))
    licence = LICENCES.get(ds.license_id)
    if licence:
        graph.add((node, DCTERMS.license, _typed(graph, licence.iri, DCTERMS.LicenseDocument)))
    graph.add(
        (
            node,
            DCTERMS.rights,
            _typed(graph, OPEN_LEVELS[OpenLevel(ds.open_level)].iri, DCTERMS.RightsStatement),
        )
    )
    if res.size is not None:
        graph.add((node, DCAT.byteSize, Literal(res.size, datatype=XSD.nonNegativeInteger)))
    graph.add((node, DCTERMS.issued, _when(res.created_at)))
    graph.add((node, DCTERMS.modified, _when(res.modified_at)))
    return node


def add_dataset(graph: Graph, base: str, ds: Dataset, units: dict[int, Unit]) -> URIRef:
    node = URIRef(f"{base}/dataset/{ds.id}")
    graph.add((node, RDF.type, DCAT.Dataset))
    graph.add((node, DCTERMS.identifier, Literal(ds.id)))
    graph.add((node, DCTERMS.title, Literal(ds.title, lang="zh")))
    if ds.title_en:
        graph.add((node, DCTERMS.title, Literal(ds.title_en, lang="en")))
    graph.add((node, DCTERMS.description, Literal(ds.notes or ds.title, lang="zh")))
    graph.add((node, DCAT.landingPage, _typed(graph, f"{base}/data/{ds.name}", FOAF.Document)))
    graph.add((node, DCTERMS.issued, _when(ds.published_at or ds.created_at)))
    graph.add((node, DCTERMS.modified, _when(ds.modified_at)))
    graph.add((node, OWL.versionInfo, Literal(str(ds.version))))
    graph.add((node, DCTERMS.language, _typed(graph, str(LANGUAGE), DCTERMS.LinguisticSystem)))
    level = OPEN_LEVELS[OpenLevel(ds.open_level)]
    graph.add((node, DCTERMS.accessRights, _typed(graph, level.iri, DCTERMS.RightsStatement, level.title)))
    frequency = FREQUENCIES.get(ds.frequency)
    if frequency:
        graph.add((node, DCTERMS.accrualPeriodicity, _typed(graph, frequency.iri, DCTERMS.Frequency)))
    for code in ds.themes:
        if code in THEMES:
            theme = _typed(graph, THEMES[code].iri, SKOS.Concept, THEMES[code].title)
            graph.add((theme, SKOS.inScheme, THEME_SCHEME))
            graph.add((node, DCAT.theme, theme))
    for tag in ds.tags:
        graph.add((node, DCAT.keyword, Literal(tag.tag, lang="zh")))
    unit = units.get(ds.unit_id)
    if unit is not None:
        graph.add((node, DCTERMS.publisher, _agent(graph, base, unit)))
    if ds.contact_name or ds.contact_email:
        contact = BNode()
        graph.add((contact, RDF.type, VCARD.Kind))
        graph.add((contact, VCARD.fn, Literal(ds.contact_name or (unit.name_zh if unit else ""))))
        if ds.contact_email:
            graph.add((contact, VCARD.hasEmail, URIRef(f"mailto:{ds.contact_email}")))
        graph.add((node, DCAT.contactPoint, contact))
    if ds.temporal_start or ds.temporal_end:
        period = BNode()
        graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
        if ds.temporal_start:
            graph.add((period, DCAT.startDate, Literal(ds.temporal_start.isoformat(), datatype=XSD.date)))
        if ds.temporal_end:
            graph.add((period, DCAT.endDate, Literal(ds.temporal_end.isoformat(), datatype=XSD.date)))
        graph.add((node, DCTERMS.temporal, period))
    spatial = units.get(ds.spatial_unit_id) if ds.spatial_unit_id else None
    if spatial is not None:
        place = URIRef(f"{base}/place/{spatial.code}")
        graph.add((place, RDF.type, DCTERMS.Location))
        graph.add((place, SKOS.prefLabel, Literal(spatial.name_zh, lang="zh")))
        graph.add((node, DCTERMS.spatial, place))
    for res in ds.resources:
        graph.add((node, DCAT.distribution, _distribution(graph, base, ds, res)))
    return node


def catalogue_node(graph: Graph, base: str, datasets: Sequence[Dataset], units: dict[int, Unit]) -> URIRef:
    node = URIRef(f"{base}/catalog")
    graph.add((node, RDF.type, DCAT.Catalog))
    graph.add((node, DCTERMS.title, Literal("城治开放数据目录", lang="zh")))
    graph.add((node, DCTERMS.title, Literal("Chengzhi open data catalogue", lang="en")))
    graph.add((node, DCTERMS.description, Literal("城市公共服务数据开放平台的数据目录。", lang="zh")))
    graph.add(
        (node, DCTERMS.description, Literal("The city's public-service open data catalogue.", lang="en"))
    )
    graph.add((node, FOAF.homepage, _typed(graph, f"{base}/data", FOAF.Document)))
    graph.add((node, DCTERMS.language, _typed(graph, str(LANGUAGE), DCTERMS.LinguisticSystem)))
    scheme = THEME_SCHEME
    graph.add((scheme, RDF.type, SKOS.ConceptScheme))
    graph.add((scheme, DCTERMS.title, Literal("Data theme", lang="en")))
    graph.add((node, DCAT.themeTaxonomy, scheme))
    city = next((u for u in units.values() if u.parent_id is None), None)
    if city is not None:
        graph.add((node, DCTERMS.publisher, _agent(graph, base, city)))
    if datasets:
        graph.add((node, DCTERMS.modified, _when(max(ds.modified_at for ds in datasets))))
    for ds in datasets:
        graph.add((node, DCAT.dataset, add_dataset(graph, base, ds, units)))
    return node


def _parse_since(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        since = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid("opendata_date_invalid", value=value[:40]) from exc
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)


def catalogue_graph(
    session: Session, base: str, page: int = 1, modified_since: dt.datetime | None = None
) -> Graph:
    """One page of the public catalogue (published datasets open without or on conditions), newest first."""
    where = [visible(ANONYMOUS, include_private=False, include_withdrawn=False)]
    if modified_since is not None:
        where.append(Dataset.modified_at >= modified_since)
    total = int(session.scalar(select(func.count()).select_from(Dataset).where(*where)) or 0)
    datasets = list(
        session.scalars(
            select(Dataset)
            .where(*where)
            .order_by(Dataset.modified_at.desc(), Dataset.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    units = _units(session, datasets)
    graph = _graph()
    catalogue_node(graph, base, datasets, units)
    last = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    paging = URIRef(f"{base}/catalog.ttl?page={page}")
    graph.add((paging, RDF.type, HYDRA.PagedCollection))
    graph.add((paging, HYDRA.totalItems, Literal(total, datatype=XSD.integer)))
    graph.add((paging, HYDRA.itemsPerPage, Literal(PAGE_SIZE, datatype=XSD.integer)))
    graph.add((paging, HYDRA.firstPage, Literal(f"{base}/catalog.ttl?page=1")))
    graph.add((paging, HYDRA.lastPage, Literal(f"{base}/catalog.ttl?page={last}")))
    if page < last:
        graph.add((paging, HYDRA.nextPage, Literal(f"{base}/catalog.ttl?page={page + 1}")))
    if page > 1:
        graph.add((paging, HYDRA.previousPage, Literal(f"{base}/catalog.ttl?page={page - 1}")))
    return graph


def _units(session: Session, datasets: Sequence[Dataset]) -> dict[int, Unit]:
    ids = dicts.unit_ids(datasets)
    units = units_by_id(session, ids)
    roots = [u for u in units.values() if u.parent_id is None]
    if not roots:
        path_roots = {int(u.path.strip("/").split("/")[0]) for u in units.values() if u.path.strip("/")}
        units.update(units_by_id(session, path_roots))
    return units


def dataset_graph(session: Session, base: str, ds: Dataset) -> Graph:
    graph = _graph()
    add_dataset(graph, base, ds, _units(session, [ds]))
    return graph


def serialise(graph: Graph, extension: str) -> Response:
    media, fmt = MEDIA[extension]
    data: Any = graph.serialize(format=fmt)
    return Response(data.encode() if isinstance(data, str) else data, media_type=f"{media}; charset=utf-8")


@router.get("/catalog.{extension}", summary="The catalogue in DCAT-AP 3 (paged; modified_since)")
def catalogue(
    request: Request,
    extension: str,
    session: SessionDep,
    page: int = Query(default=1, ge=1, le=100_000),
    modified_since: str | None = Query(default=None, max_length=40),
) -> Response:
    if extension not in MEDIA:
        raise NotFound("not_found")
    base = str(request.base_url).rstrip("/")
    return serialise(catalogue_graph(session, base, page, _parse_since(modified_since)), extension)


@router.get("/dataset/{ref}.{extension}", summary="A dataset in DCAT-AP 3")
def dataset(request: Request, ref: str, extension: str, session: SessionDep, actor: ActorDep) -> Response:
    if extension not in MEDIA:
        raise NotFound("not_found")
    ds = service.get_dataset(session, actor, ref, withdrawn_ok=False)
    return serialise(dataset_graph(session, str(request.base_url).rstrip("/"), ds), extension)
