"""The hash-chained ledger, its columnar SLA projection and canonical JSON.

The bottom room: it imports nothing else of the collector.
"""
