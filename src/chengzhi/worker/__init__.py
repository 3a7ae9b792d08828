"""The triage worker: everything a new request triggers that the resident does not wait for.

Intake (requests/intake) writes the request, its first event, the idempotency record and one row of the intake
outbox (requests/queue.py), and answers 201. The worker claims outbox rows in batches and, for each request, in one
transaction per batch: urgency (an emergency gets its priority and time limits), the place the text names, the
category model's suggestion and automatic dispatch, the duplicates index, the metrics facts, then whatever the
other domains registered (`chengzhi.reactions.INTAKE_STEPS`). `runner.py` runs it: inside `chengzhi serve` (one
process holds the lease) or as `chengzhi worker` processes.
"""
