"""Applied migrations are checksummed: a released migration whose text changes makes `dzhub db
init` refuse every warehouse that applied it. The migrations of the first release stay as they
were; what changes comes as a new migration."""

from __future__ import annotations

import hashlib

from dz_assets.settings import PROJECT_ROOT

MIGRATIONS = PROJECT_ROOT / "dz_assets" / "db" / "migrations"

# sha256 of each released migration, as deployed warehouses hold it in meta.schema_migration.
RELEASED = {
    "0001_schemas_and_meta.sql": "05330386b406f4647b6d5a03bd4449ddfbb02d2767cb900dc5698e31c4952cf9",
    "0002_province.sql": "d6063eb9ff64cf7004c37238574bd71d6f7e6403590ac5165a0a32fa4107e8b5",
    "0003_province_monitoring.sql": "e384689431c047e1d41fdb141cb0b1e55b21a324f747f518968b6084001691ad",
    "0004_redirect_replay.sql": "1648e8247911424e1385e0f2d2bf19edecf15453b5f52b75a213eeefc54a779c",
    "0005_cdc.sql": "d73db68056c46c259d172df6db90ac11c21155ead4750eca8c40e8b72ba32a1b",
    "0006_cdc_apply_position.sql": "e056f42d5fd378cb18ecb32a9b995838cc07f533dd80cb027b9613e60624d302",
    "0007_cdc_kept_values.sql": "c982eeac91d6a512117cc12c11a8eec6ddb42837208281833c411b9d35c07212",
}


def test_released_migrations_are_unchanged():
    for name, digest in RELEASED.items():
        text = (MIGRATIONS / name).read_bytes()
        assert hashlib.sha256(text).hexdigest() == digest, f"{name} changed after release: add a new migration"
