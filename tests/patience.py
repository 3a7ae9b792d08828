"""How long the tests wait for other processes and threads: generous bounds, for a starved CPU.

Measured on the 2-core machine running the suite in two pytest-xdist workers beside other work (load 35-42,
2026-12-07): a new `chengzhi worker` process did nothing for over 60 s (it imports the application and its models
first), a mock OIDC provider did not answer within 30 s. A wait ends as soon as what it waits for happens, so a
generous bound costs a passing test nothing; it only decides how soon a real failure is reported. Every wait that
runs out fails the test (none carries on as if it had not).
"""

from __future__ import annotations

# A new Python process (a live server, `chengzhi worker`, a mock provider) until it answers or starts working.
START_SECONDS = 300.0
# A process or thread told to stop until it has (after the batch under way).
STOP_SECONDS = 120.0
# Work of a background worker (triage of a few requests, a delivery) until it is done.
WORK_SECONDS = 180.0
# A browser action or expectation (a page load, an element appearing): Playwright's own default is 30 s.
BROWSER_SECONDS = 60.0
