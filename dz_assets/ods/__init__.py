"""The one write side of the ODS tables (``ods.<table>``): their DDL from the catalogue, the FULL
swap, the change logs (``raw.<table>__changes``), apply (per key the highest seq wins) and the
re-base after a FULL. The channels (``province``, ``cdc``, ``sources``) write ODS only through it."""
