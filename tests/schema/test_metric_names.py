"""The metric names the schema accepts are exactly the numeric fields the results carry."""

from __future__ import annotations

import dataclasses
import math

from cases import CHAIN
from helpers import close, run_scenario, scenario_from_yaml

from contagion_cli.results.metrics import parse_metric
from contagion_cli.results.run import AssetResult, ProtocolResult
from contagion_cli.schema.metric_names import (
    ASSET_FIELDS,
    EXPECTED_SYSTEM_METRICS,
    METRIC_ALIASES,
    PROTOCOL_FIELDS,
    SYSTEM_METRICS,
    metric_kind,
)


def _numeric_fields(cls: type) -> dict[str, str]:
    """Fields typed int, float or bool (optional or not), with their kind."""
    out = {}
    for f in dataclasses.fields(cls):
        kind = str(f.type).replace(" ", "").removesuffix("|None")
        if kind in ("float", "int", "bool"):
            out[f.name] = kind
    return out


def test_protocol_and_asset_fields_match_the_result_classes():
    assert _numeric_fields(ProtocolResult) == PROTOCOL_FIELDS
    assert _numeric_fields(AssetResult) == ASSET_FIELDS


def test_every_system_metric_is_a_number_of_the_json():
    """A metric's name is its JSON key: each system metric is a scalar of ``run``'s JSON and the
    value gates and sweeps read. ``insolvent_protocols`` is the JSON's list of names; as a
    metric it is the count, ``insolvent_count`` (METRIC_ALIASES)."""
    result = run_scenario(scenario_from_yaml(CHAIN.replace("reserve_usd: 1.0e6", "reserve_usd: 0")))
    data = result.to_dict()
    for name in SYSTEM_METRICS:
        value = data[name]
        assert value is None or isinstance(value, int | float), name
        assert close(result.metric(name), math.nan if value is None else float(value)), name
    assert data["insolvent_count"] == len(data["insolvent_protocols"])
    assert isinstance(data["insolvent_protocols"], list)
    for alias, name in METRIC_ALIASES.items():
        assert alias not in SYSTEM_METRICS and alias in EXPECTED_SYSTEM_METRICS
        assert result.metric(alias) == result.metric(name)
    assert list(SYSTEM_METRICS)[:3] == ["converged", "rounds", "total_rounds"]  # sweep columns


def test_an_alias_is_parsed_as_the_metric_it_means():
    metric = parse_metric("insolvent_protocols", ["a"], ["ETH"])
    assert (metric.name, metric.field, metric.kind) == (
        "insolvent_protocols",
        "insolvent_count",
        "int",
    )


def test_kinds():
    assert metric_kind("protocols.aave.insolvent") == "bool"
    assert metric_kind("protocols.aave.liquidations") == "int"
    assert metric_kind("assets.ETH.final_price") == "float"
    assert metric_kind("propagation_depth") == "int"
    assert metric_kind("nonsense") == "float"
