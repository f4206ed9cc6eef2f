"""The central collector: ingest, pipeline, ledger, time series, alerts, SLA, evidence, web.

``docs/architecture.md`` maps the rooms and what each may import."""
