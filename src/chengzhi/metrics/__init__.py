"""Performance and decisions: the three rates, volumes, backlog, stage times, rankings, trends and maps.

Every figure is computed from `request_facts`, one row per request derived from its append-only event log
(`facts.py`), kept in the same transaction as each event (`facts.install`), so that figures are never stale.
"""
