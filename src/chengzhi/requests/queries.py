"""The requests domain's read API for other domains: what they may know of requests without reading its tables.

Other domains (routing, metrics, open311, jobs, the admin pages) call these functions instead of querying
`requests`, `request_events`, `request_units`, ... themselves; tests/test_architecture.py keeps it so.
Sections are by caller, so that each caller's needs stay visible.
"""

from __future__ import annotations

# ---------------------------------------------------------------- for the requests domain's own pages and API


# ---------------------------------------------------------------- for routing


# ---------------------------------------------------------------- for metrics


# ---------------------------------------------------------------- for open311


# ---------------------------------------------------------------- for jobs, imports and the admin pages
