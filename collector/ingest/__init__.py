"""The agents' batches in: MQTT consumer, receipts (sequences, gaps, acks), embedded broker.

May use: the ledger (receipts are journaled) and the wire contract (``agent.wire``).
"""
