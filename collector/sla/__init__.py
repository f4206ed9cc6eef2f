"""The SLA engine: contract figures and settlement as pure functions of the ledger.

Inputs are the ledger's state and ticket rows (through its columnar projection), the
inventory, the policy and a period; ``docs/sla-semantics.md`` states every rule.
"""
