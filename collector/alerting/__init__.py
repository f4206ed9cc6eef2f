"""Alerts delivered: wording, routing by region and duty roster, channels, the notifier.

May use: the ledger (the delivery journal) and the config models.
"""
