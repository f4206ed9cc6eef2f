"""The time series out: the disk spool and the InfluxDB v2 writer.

May use: nothing else of the collector (the pipeline hands it finished lines).
"""
