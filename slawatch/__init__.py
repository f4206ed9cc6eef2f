"""slawatch: shared foundation of the agent, the collector and the simulator (config models)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("slawatch")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
