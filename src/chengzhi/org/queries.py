"""The org domain's read API for other domains: units, areas and users, without reading org's tables.

Sections are by caller, so that each caller's needs stay visible.
"""

from __future__ import annotations

# ---------------------------------------------------------------- for requests


# ---------------------------------------------------------------- for routing


# ---------------------------------------------------------------- for metrics


# ---------------------------------------------------------------- for open311


# ---------------------------------------------------------------- for the admin pages, imports, deps and templating
