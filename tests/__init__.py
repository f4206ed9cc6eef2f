"""The tests. Under pytest-xdist each worker serves its simulated fleets on a loopback
range of its own: devices listen on fixed ports at their own addresses, so two workers
on one range would collide. Done here, before any test module imports ``simulator.fleet``
(which reads the base once) and before any test starts a simulator process (which
inherits the environment)."""

import os
from ipaddress import IPv4Address

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", … under xdist
if _WORKER.startswith("gw"):
    # The user's base (one per developer sharing a machine), else simulator/fleet.py's
    # default; worker n takes the /16 2n above it: 127.70.0.1 → 127.72.0.1 for gw1. Two
    # /16s each: a multi-homed device answers from the /16 above its own
    # (``simulator.snmp_agent.other_address``).
    _base = IPv4Address(os.environ.get("SLAWATCH_SIM_FIRST_ADDRESS", "127.16.0.1"))
    os.environ["SLAWATCH_SIM_FIRST_ADDRESS"] = str(_base + (int(_WORKER[2:]) << 17))
