"""The explainable rule model: a base score, points per kind of record grouped in weighted dimensions, time decay
(a half-life per dimension) and grade thresholds, all data. Every score comes with the records that moved it and by
how much. Pure: nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Dimension:
    weight: float
    half_life_days: float | None  # None: no decay
    points: dict[str, float]  # record variant ("penalty:serious", "inspection:pass", ...) -> points


@dataclass(frozen=True)
class Model:
    name: str
    base: float
    # (grade, lowest score) from best to worst; below every threshold: the last grade.
    thresholds: tuple[tuple[str, float], ...]
    dimensions: dict[str, Dimension]
    # Variants that cap the grade however high the score (e.g. a court dishonesty listing: D).
    caps: dict[str, str] = field(default_factory=dict)

    def dimension_of(self, variant: str) -> tuple[str, Dimension] | None:
        for name, dim in self.dimensions.items():
            if variant in dim.points:
                return name, dim
        return None


# The general model; the scale follows Shenzhen's trial (docs/credit.md): A >= 671, B 601-670, C 555-600, D < 555.
DEFAULT_MODEL: dict[str, Any] = {
    "name": "general-2026",
    "base": 650,
    "thresholds": {"A": 671, "B": 601, "C": 555, "D": 0},
    "caps": {"dishonesty": "D"},
    "dimensions": {
        "compliance": {
            "weight": 1.0,
            "half_life_days": 365,
            "points": {"licence": 10, "inspection:pass": 15, "inspection:fail": -30},
        },
        "penalties": {
            "weight": 1.0,
            "half_life_days": 730,
            "points": {"penalty:minor": -10, "penalty:general": -60, "penalty:serious": -120},
        },
        "honours": {"weight": 1.0, "half_life_days": 730, "points": {"honour": 30}},
        "commitments": {
            "weight": 1.0,
            "half_life_days": 365,
            "points": {"commitment:kept": 10, "commitment:broken": -60},
        },
        "judicial": {"weight": 1.0, "half_life_days": None, "points": {"dishonesty": -200}},
        "complaints": {"weight": 1.0, "half_life_days": 180, "points": {"complaint": -10}},
    },
}


def model_from(data: dict[str, Any]) -> Model:
    thresholds = sorted(((g, float(v)) for g, v in data["thresholds"].items()), key=lambda t: -t[1])
    dims = {
        name: Dimension(
            weight=float(d.get("weight", 1.0)),
            half_life_days=None if d.get("half_life_days") is None else float(d["half_life_days"]),
            points={k: float(v) for k, v in d["points"].items()},
        )
        for name, d in data["dimensions"].items()
    }
    return Model(str(data["name"]), float(data["base"]), tuple(thresholds), dims, dict(data.get("caps", {})))


def load_model(path: Path) -> Model:
    """A model from a TOML file shaped like DEFAULT_MODEL (an industry's own model, say)."""
    with path.open("rb") as handle:
        return model_from(tomllib.load(handle))


def with_points(base: dict[str, Any], name: str, points: dict[str, float]) -> dict[str, Any]:
    """`base` with other points for some variants (and its own name): an industry's model in a few lines."""
    dims = {
        dim: {**d, "points": {v: points.get(v, p) for v, p in d["points"].items()}}
        for dim, d in base["dimensions"].items()
    }
    return {**base, "name": name, "dimensions": dims}


# Industry models override the general one for the entities of their industry (the code stored in
# `credit_entities.industry`). Food is a high-risk trade: its penalties and failed inspections weigh more.
# The city's policy, like the joint measures; a reasonable default, not a legal text.
INDUSTRY_MODELS: dict[str, dict[str, Any]] = {
    "food": with_points(
        DEFAULT_MODEL,
        "food-2026",
        {"penalty:minor": -15, "penalty:general": -80, "penalty:serious": -160, "inspection:fail": -45},
    ),
}


@dataclass(frozen=True)
class Models:
    """The general model and the industries' own."""

    general: Model
    industries: dict[str, Model] = field(default_factory=dict)

    def for_industry(self, industry: str | None) -> Model:
        return self.industries.get(industry or "", self.general)


def models_from(general: dict[str, Any], industries: dict[str, dict[str, Any]]) -> Models:
    return Models(model_from(general), {code: model_from(data) for code, data in industries.items()})


@dataclass(frozen=True)
class Fact:
    """What the model sees of a record."""

    record_id: int
    kind: str
    severity: str | None
    outcome: bool | None
    decided_on: dt.date
    counts: bool  # False: repaired, past its publication, or an unsubstantiated complaint


def variant(fact: Fact) -> str:
    if fact.kind == "penalty":
        return f"penalty:{fact.severity}"
    if fact.kind == "inspection":
        return "inspection:pass" if fact.outcome else "inspection:fail"
    if fact.kind == "commitment":
        return "commitment:kept" if fact.outcome else "commitment:broken"
    return fact.kind


@dataclass(frozen=True)
class Score:
    score: float
    grade: str
    explanation: list[dict[str, Any]]  # one entry per record that moved the score


def evaluate(model: Model, facts: list[Fact], on: dt.date) -> Score:
    score = model.base
    explanation: list[dict[str, Any]] = []
    capped: str | None = None
    for fact in sorted(facts, key=lambda f: (f.decided_on, f.record_id)):
        if not fact.counts or fact.decided_on > on:
            continue
        name = variant(fact)
        found = model.dimension_of(name)
        if found is None:
            continue
        dim_name, dim = found
        age = (on - fact.decided_on).days
        decay = 1.0 if dim.half_life_days is None else 0.5 ** (age / dim.half_life_days)
        delta = round(dim.points[name] * dim.weight * decay, 2)
        score += delta
        explanation.append(
            {
                "record_id": fact.record_id,
                "variant": name,
                "dimension": dim_name,
                "delta": delta,
                "decay": round(decay, 4),
            }
        )
        if name in model.caps:
            capped = _worse(model, capped, model.caps[name])
    grade = model.thresholds[-1][0]
    for g, lowest in model.thresholds:
        if score >= lowest:
            grade = g
            break
    if capped is not None:
        grade = _worse(model, grade, capped)
    return Score(round(score, 2), grade, explanation)


def _worse(model: Model, a: str | None, b: str) -> str:
    order = [g for g, _ in model.thresholds]
    if a is None:
        return b
    return a if order.index(a) >= order.index(b) else b
