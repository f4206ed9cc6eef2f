"""Asking the running collector to sign a head for an export (``evidence export
--collector URL --token-file FILE``): its API signs row N of its own ledger with its
key, which the export then needs not hold."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

from collector.evidence.heads import SignedHead

TIMEOUT_S = 30


def collector_attestation(url: str, token: str) -> Callable[[int], SignedHead]:
    """A function that asks the collector at ``url`` (http or https) for the signed head
    of a row; OSError (urllib's errors are) when it cannot or will not."""
    base = url.rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        raise ValueError(f"{url}: not an http(s) URL")

    def attest(seq: int) -> SignedHead:
        asked = urllib.request.Request(  # noqa: S310  # the scheme is checked above
            f"{base}/ledger/heads/{seq}",
            method="POST",
            headers={"authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(asked, timeout=TIMEOUT_S) as answer:  # nosec B310  # noqa: S310
            found = json.load(answer)["head"]
        return SignedHead.parse(json.dumps(found), f"{base}/ledger/heads/{seq}")

    return attest
