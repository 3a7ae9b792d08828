"""Keep the catalogues in step with the code: `python -m chengzhi.web.messages` (or `make i18n`) extracts every
message of the package (babel.cfg: pages, API errors, domain labels) and adds the new ones to both `.po` files
(English: the message itself; Chinese: empty, to be translated, which the catalogue test refuses until done) and
drops the ones no longer used."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from chengzhi.i18n import BABEL_CFG, LANGUAGES, LOCALES, po_path

PACKAGE_DIR = Path(__file__).parents[1]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "NC_": ((1, "c"), 2)}

# A message: its msgid and its context (None for most).
Key = tuple[str, str | None]


def extract() -> dict[Key, list[tuple[str, int]]]:
    """Every message of the templates and the Python code -> where it is used."""
    with BABEL_CFG.open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: dict[Key, list[tuple[str, int]]] = {}
    for filename, lineno, msg, _comments, context in extract_from_dir(
        PACKAGE_DIR, method_map, options_map, keywords=KEYWORDS
    ):
        msgid = msg[0] if isinstance(msg, tuple) else msg
        if msgid:
            found.setdefault((msgid, context), []).append((filename, lineno))
    return found


def update() -> None:
    found = extract()
    for lang in LANGUAGES:
        path = po_path(lang)
        old = Catalog(locale=LOCALES[lang])
        if path.exists():
            with path.open("rb") as po:
                old = read_po(po, locale=LOCALES[lang])
        # The old creation date is kept, so that an update that adds nothing changes nothing (and branches
        # that each add a message do not all conflict on the header).
        new = Catalog(
            locale=LOCALES[lang],
            project="chengzhi",
            charset="utf-8",
            fuzzy=False,
            creation_date=old.creation_date,
        )
        for (msgid, context), places in sorted(
            found.items(), key=lambda item: (item[0][0], item[0][1] or "")
        ):
            previous = old.get(msgid, context=context)
            text = previous.string if previous is not None and previous.string else ""
            if lang == "en" and not text:
                text = msgid
            new.add(msgid, text, locations=places, context=context)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as po:
            write_po(po, new, width=110, sort_output=True, include_lineno=False)


if __name__ == "__main__":
    update()
