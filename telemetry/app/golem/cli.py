"""`ollama-sidecar golem offer | demand`: Golem market properties for this provider and tiers.

    ollama-sidecar golem offer [--config FILE] [--data-dir DIR] [--json]
    ollama-sidecar golem demand --tier NAME [--vendor nvidia|amd|apple] [--config FILE] [--json]

`offer` reads the provider key from the data directory (no running sidecar needed) and the GPUs
from this host; `demand` needs neither. Exit codes: 0 printed, 2 usage or configuration error
(an unknown tier, a missing or unreadable provider key). Properties are printed one
`key=value` per line (values as JSON), or as one JSON object with `--json`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from telemetry.app.golem._properties import (
    VENDORS,
    LogIdentity,
    demand_for,
    offer_properties,
)
from telemetry.core._config import Config, load_config
from telemetry.core._errors import ConfigError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="golem_command", metavar="offer|demand", required=True)
    offer = sub.add_parser("offer", help="the properties this provider adds to its Golem offer")
    offer.add_argument("--data-dir", type=Path, help="the sidecar's data directory")
    demand = sub.add_parser("demand", help="the demand constraints for a model tier")
    demand.add_argument("--tier", required=True, help="a tier name from the config")
    demand.add_argument("--vendor", choices=VENDORS, default="nvidia", help="GPU vendor")
    for p in (offer, demand):
        p.add_argument("--config", type=Path, help="config file (tiers, receipts origin)")
        p.add_argument("--json", action="store_true", help="print one JSON object")


def _print(properties: dict[str, object], constraints: str | None, as_json: bool) -> None:
    if as_json:
        doc: dict[str, object] = {"properties": properties}
        if constraints is not None:
            doc["constraints"] = constraints
        print(json.dumps(doc, indent=2))
        return
    for key, value in properties.items():
        print(f"{key}={json.dumps(value)}")
    if constraints is not None:
        print(constraints)


def _identity(config: Config, data_dir: Path) -> LogIdentity:
    from receipts import ReceiptsError
    from receipts._fetch_http import RECEIPTS_PREFIX
    from receipts._provider import open_signer

    try:
        signer = open_signer(data_dir, config.receipts.origin, create=False)
    except ReceiptsError as exc:
        raise ConfigError(
            f"{exc} (the sidecar creates the provider key on its first start)"
        ) from None
    witnesses = tuple(w.key for w in config.receipts.witness)
    return LogIdentity(signer.name, str(signer.verifier()), RECEIPTS_PREFIX, witnesses)


def run(args: argparse.Namespace) -> int:
    overrides = {"proxy": {"data_dir": args.data_dir}} if getattr(args, "data_dir", None) else {}
    config = load_config(args.config, env=os.environ, overrides=overrides)
    if args.golem_command == "demand":
        demand = demand_for(config.tier_named(args.tier, "--tier"), args.vendor)
        _print(demand.properties, demand.constraints, args.json)
        return 0
    from exporters._probe import default_sources
    from exporters.inventory_cli import probe_once

    identity = _identity(config, config.proxy.data_dir)
    snapshot = probe_once(default_sources())
    _print(offer_properties(snapshot, config.tiers, identity), None, args.json)
    return 0
