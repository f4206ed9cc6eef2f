"""The 设备台账 in: a device ledger (CSV or XLSX) turned into an inventory.

May use: the config models only.
"""
