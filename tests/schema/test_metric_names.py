"""The metric names the schema accepts are exactly the numeric fields the results carry."""

from __future__ import annotations

import dataclasses

from contagion_cli.results.run import AssetResult, ProtocolResult, RunResult
from contagion_cli.schema.metric_names import (
    ASSET_FIELDS,
    EXPECTED_SYSTEM_METRICS,
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


def test_every_system_metric_is_read_off_a_run():
    fields = {f.name for f in dataclasses.fields(RunResult)}
    # insolvent_protocols is a list in the JSON; its metric is the count
    assert set(EXPECTED_SYSTEM_METRICS) - {"insolvent_protocols"} <= fields
    assert list(SYSTEM_METRICS)[:3] == ["converged", "rounds", "total_rounds"]  # sweep columns


def test_kinds():
    assert metric_kind("protocols.aave.insolvent") == "bool"
    assert metric_kind("protocols.aave.liquidations") == "int"
    assert metric_kind("assets.ETH.final_price") == "float"
    assert metric_kind("propagation_depth") == "int"
    assert metric_kind("nonsense") == "float"
