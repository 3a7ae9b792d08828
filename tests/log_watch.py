"""Personal data never in logs, over a whole test run (issue 20): every log record the run makes goes through the
redaction `chengzhi serve`, `chengzhi worker` and the CLI install (`chengzhi.security.logs`), then through this
handler, which looks for what the tests plant everywhere: mobile numbers, resident ID-card numbers (with a right
check character) and e-mail addresses. The run fails at its end, naming each test and logger, if one got through
(conftest.py: `pytest_sessionfinish`). `chengzhi` loggers are watched from INFO, as `chengzhi serve` logs."""

from __future__ import annotations

import logging
import os
import re

from stdnum.cn import ric

from chengzhi.security import logs

MOBILE = re.compile(r"(?<![\d*])1[3-9]\d{9}(?!\d)")
EMAIL = re.compile(r"(?<![\w.+*-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ID_CARD = re.compile(r"(?<![\dA-Za-z*])\d{17}[\dXx](?![\dA-Za-z])")


def leaked(text: str) -> list[str]:
    """Personal data in `text` that the redaction would have masked."""
    found = MOBILE.findall(text) + EMAIL.findall(text)
    return found + [c for c in ID_CARD.findall(text) if ric.is_valid(c)]


class LeakWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.records = 0
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted holds nothing readable
            return
        test = os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)").rsplit(" (", 1)[0]
        self.leaks += [f"{test}: logger {record.name}: {value}" for value in leaked(text)]


WATCH = LeakWatch()


def install() -> None:
    logs.install()  # the CLI's redaction, installed as the CLI does
    logging.getLogger().addHandler(WATCH)
    logging.getLogger("chengzhi").setLevel(logging.INFO)
