"""Statuses to facts in event time: states, fault tickets, alerts due, maintenance windows.

Also the checkpoint of that memory and the replay of recorded observations through it.
May use: the ledger, the wire contract, the config models.
"""
