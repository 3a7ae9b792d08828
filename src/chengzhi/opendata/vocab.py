"""The controlled vocabularies of the catalogue: licences, update frequencies, themes (CKAN groups) and open
levels, each with the IRI that DCAT-AP expects (the EU Publications Office's authority tables)."""

from __future__ import annotations

from dataclasses import dataclass

from chengzhi.i18n import N_
from chengzhi.opendata.models import OpenLevel

EU = "http://publications.europa.eu/resource/authority/"


@dataclass(frozen=True)
class Term:
    code: str
    title: str  # English, translated on pages through gettext
    iri: str
    url: str = ""


LICENCES: dict[str, Term] = {
    t.code: t
    for t in (
        Term(
            "cc-by-4.0",
            N_("Creative Commons Attribution 4.0"),
            f"{EU}licence/CC_BY_4_0",
            "https://creativecommons.org/licenses/by/4.0/",
        ),
        Term(
            "cc0-1.0",
            N_("Creative Commons Zero 1.0 (public domain)"),
            f"{EU}licence/CC0",
            "https://creativecommons.org/publicdomain/zero/1.0/",
        ),
        Term(
            "odc-by",
            N_("Open Data Commons Attribution"),
            f"{EU}licence/ODC_BY",
            "https://opendatacommons.org/licenses/by/1-0/",
        ),
        Term("other-closed", N_("Data-use agreement (not an open licence)"), f"{EU}licence/COMMERCIAL"),
    )
}

FREQUENCIES: dict[str, Term] = {
    t.code: t
    for t in (
        Term("daily", N_("Daily"), f"{EU}frequency/DAILY"),
        Term("weekly", N_("Weekly"), f"{EU}frequency/WEEKLY"),
        Term("monthly", N_("Monthly"), f"{EU}frequency/MONTHLY"),
        Term("quarterly", N_("Quarterly"), f"{EU}frequency/QUARTERLY"),
        Term("annual", N_("Annual"), f"{EU}frequency/ANNUAL"),
        Term("irregular", N_("Irregular"), f"{EU}frequency/IRREG"),
    )
}

# The age after which a dataset of each frequency is stale (days), for the freshness check.
STALE_AFTER_DAYS = {"daily": 2, "weekly": 9, "monthly": 35, "quarterly": 100, "annual": 380}

THEMES: dict[str, Term] = {
    t.code: t
    for t in (
        Term("government", N_("Government and public sector"), f"{EU}data-theme/GOVE"),
        Term("transport", N_("Transport"), f"{EU}data-theme/TRAN"),
        Term("environment", N_("Environment"), f"{EU}data-theme/ENVI"),
        Term("society", N_("Population and society"), f"{EU}data-theme/SOCI"),
        Term("economy", N_("Economy and finance"), f"{EU}data-theme/ECON"),
        Term("health", N_("Health"), f"{EU}data-theme/HEAL"),
        Term("education", N_("Education, culture and sport"), f"{EU}data-theme/EDUC"),
        Term("regions", N_("Regions and cities"), f"{EU}data-theme/REGI"),
        Term("energy", N_("Energy"), f"{EU}data-theme/ENER"),
    )
}

OPEN_LEVELS: dict[OpenLevel, Term] = {
    OpenLevel.unconditional: Term("unconditional", N_("Open without conditions"), f"{EU}access-right/PUBLIC"),
    OpenLevel.conditional: Term("conditional", N_("Open on conditions"), f"{EU}access-right/RESTRICTED"),
    OpenLevel.not_open: Term("not_open", N_("Not open (units only)"), f"{EU}access-right/NON_PUBLIC"),
}

# Chinese names as the regulations word them, shown next to the translated title.
OPEN_LEVEL_ZH = {
    OpenLevel.unconditional: "无条件开放",
    OpenLevel.conditional: "有条件开放",
    OpenLevel.not_open: "非开放",
}

FORMATS = {
    "CSV": ("text/csv", f"{EU}file-type/CSV"),
    "XLSX": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", f"{EU}file-type/XLSX"),
    "JSON": ("application/json", f"{EU}file-type/JSON"),
    "PDF": ("application/pdf", f"{EU}file-type/PDF"),
    "GEOJSON": ("application/geo+json", f"{EU}file-type/GEOJSON"),
}
