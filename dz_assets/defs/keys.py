"""Asset keys shared by several stages, each naming the relation it stands for ``[schema, table]``.

The ODS tables are written by two stages (the province's FULL and INCR batches, the change
stream), so their keys, and the keys of what feeds them, live here rather than in either stage.
"""

import dagster as dg

# One row per delivery of a provincial package: the batch asset's relation.
BATCH_KEY = dg.AssetKey(["meta", "batch"])
# One row per table fed incrementally: its apply position, figures and channels.
CDC_STATE_KEY = dg.AssetKey(["meta", "cdc_table_state"])
RECON_KEY = dg.AssetKey(["meta", "recon_run"])


def ods_key(table_code: str) -> dg.AssetKey:
    return dg.AssetKey(["ods", table_code.lower()])


def changelog_key(table_code: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", f"{table_code.lower()}__changes"])
