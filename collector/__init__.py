"""The central collector: ingest, time series, state, faults, ledger, SLA figures."""
