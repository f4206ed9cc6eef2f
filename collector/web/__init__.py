"""What people and scrapers see: the JSON API, ``/metrics`` and the console.

May use: every room below. Imported only by the composition root (``collector/app.py``)
and the CLI.
"""
