"""Every process-level cache, cleared in one call: `reset_caches()` (an edge module: it knows the domains).

The tests call it after each test (tests/conftest.py) and whenever they change the environment, so that no test
depends on what an earlier one left in memory. A module that adds a process cache holding settings, data or
anything a test may change adds its line here.

Two kinds of cache are left alone on purpose:
- engines and sessionmakers (`db.get_engine`, `db.get_sessionmaker`, `deps._sqlite_writer`): dropping them leaks
  open connections; the tests dispose of them once, at the end of the session;
- caches of packaged files and pure functions (page templates, translation catalogues, the holiday calendar,
  time-zone offsets): they hold nothing a test can change and are slow to rebuild; `files=True` clears them too.
"""

from __future__ import annotations

from chengzhi import generations, ratelimit
from chengzhi.categories import timelimits
from chengzhi.config import get_settings
from chengzhi.identity import oidc
from chengzhi.knowledge import index as knowledge_index
from chengzhi.open311 import formats
from chengzhi.routing import caches as routing_caches
from chengzhi.warning import alerts as warning_alerts
from chengzhi.warning import labels as warning_labels
from chengzhi.warning import live as warning_live
from chengzhi.web import i18n, templating


def reset_caches(*, files: bool = False) -> None:
    """Forget the cached settings, rate-limit counters and routing's indexes (and, with `files`, the caches of
    packaged files)."""
    get_settings.cache_clear()
    ratelimit.reset()
    generations.reset()  # tokens' actors, the city's hub, categories at intake
    routing_caches.reset_caches()
    knowledge_index.reset()  # the knowledge base's search index
    warning_live.invalidate_index()  # hot issues: the open issues' index and the IDF of the last recomputation
    warning_live.invalidate_idf()
    warning_labels.reset_cache()  # the sentiment and type model, read from its file
    warning_alerts.reset_cache()  # the sensitive words
    oidc.CACHE.clear()  # identity providers' discovery documents and keys
    if files:
        templating.templates.cache_clear()
        i18n.translations.cache_clear()
        timelimits.is_working_day.cache_clear()
        formats._offset.cache_clear()
