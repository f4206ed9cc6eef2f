"""The composition root: builds the running collector and hands it to the web layer.

The collector (``service.py``) knows nothing of the web; the web layer is given the
collector. Only this module and the CLI import ``collector.web``.
"""

from __future__ import annotations

from functools import partial

from collector.ledger.lease import Lease
from collector.service import Collector
from collector.web.api import create_app, serve
from slawatch.config import secrets
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.settings import CollectorSettings


def assemble(
    settings: CollectorSettings,
    inventory: Inventory,
    policies: PolicyBook,
    lease: Lease | None = None,
    standby: bool = False,
) -> Collector:
    """The collector with its API and console (when the settings have ``api``). Every
    secret the settings reference is read and judged first (slawatch/config/secrets.py):
    one that breaks its rule raises SecretError, and the web layer never sees it."""
    refused = secrets.problems(secrets.collector_secrets(settings))
    if refused:
        raise refused[0]
    collector = Collector(settings, inventory, policies, lease=lease, standby=standby)
    if settings.api is not None:
        api = settings.api
        collector.beside.append(
            partial(serve, create_app(collector), api.bind, api.trusted_proxies)
        )
    return collector


def load(
    settings: CollectorSettings, lease: Lease | None = None, standby: bool = False
) -> Collector:
    """The collector as the settings describe it: inventory and policies read and checked
    (``standby``: a read-only view of the ledger another collector writes)."""
    inventory = load_config(settings.inventory, Inventory)
    policies = PolicyBook.load([settings.policy, *settings.contract_policies])
    policies.check(inventory, settings.inventory)
    return assemble(settings, inventory, policies, lease, standby)
