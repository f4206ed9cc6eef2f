"""How transport failures become reasons, and how several checks become one status.

``unreachable`` needs a routing failure (ICMP host unreachable, no route), which loopback
cannot produce without changing this machine's routes; the mapping is checked here on the
exceptions the kernel raises, and every other reason is checked over real sockets.
"""

from __future__ import annotations

import errno

import aiohttp
import pytest

from agent.probes.base import ProbeResult, combine, connection_reason
from agent.wire import Health, Reason


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (OSError(errno.EHOSTUNREACH, "No route to host"), Reason.UNREACHABLE),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Reason.UNREACHABLE),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Reason.REFUSED),
        (ConnectionResetError(errno.ECONNRESET, "reset"), Reason.REFUSED),
        (TimeoutError(), Reason.TIMEOUT),
        (ValueError("not the protocol"), Reason.BAD_RESPONSE),
    ],
)
def test_a_transport_failure_names_its_reason(failure: BaseException, reason: Reason) -> None:
    assert connection_reason(failure) is reason


def test_an_aiohttp_connect_failure_keeps_refused_apart_from_unreachable() -> None:
    key = aiohttp.client_reqrep.ConnectionKey(
        host="192.0.2.9",
        port=80,
        is_ssl=False,
        ssl=True,
        proxy=None,
        proxy_auth=None,
        proxy_headers_hash=None,
    )
    refused = aiohttp.ClientConnectorError(key, OSError(errno.ECONNREFUSED, "refused"))
    no_route = aiohttp.ClientConnectorError(key, OSError(errno.EHOSTUNREACH, "no route"))
    assert connection_reason(refused) is Reason.REFUSED
    assert connection_reason(no_route) is Reason.UNREACHABLE


def test_the_worst_check_decides_and_every_metric_is_kept() -> None:
    liveness = ProbeResult(Health.UP, Reason.OK, {"liveness": Reason.OK}, {"rtt_ms": 3.0})
    stream = ProbeResult(
        Health.DEGRADED, Reason.STREAM_UNAVAILABLE, {"stream": Reason.STREAM_UNAVAILABLE}, {}
    )
    merged = combine(liveness, stream)
    assert (merged.health, merged.reason) == (Health.DEGRADED, Reason.STREAM_UNAVAILABLE)
    assert merged.checks == {"liveness": Reason.OK, "stream": Reason.STREAM_UNAVAILABLE}
    assert merged.metrics == {"rtt_ms": 3.0}
