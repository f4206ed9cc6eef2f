"""Probes: one small class per protocol behind one ``Probe`` protocol.

A device failure is data: every probe returns a ``ProbeResult`` (health, a reason from
the wire's one enum, per-check reasons and numeric metrics) and never raises for
anything a device does. Library exceptions are mapped here, at the boundary.
"""
