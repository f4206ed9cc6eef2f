"""Evidence an evaluator can check: signed ledger heads, the export bundle and its verifier."""
