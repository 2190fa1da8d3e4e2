"""An INCR delete row is applied by the catalogue's key: the prover requires it even when the
DATASET's pk names other fields. Such a row once passed the prover and then raised KeyError
while the batch was turned into changes, failing the whole INCR batch at every retry."""

from __future__ import annotations

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.values import IndexField
from dz_assets.province.reader.bcp import prove_chunk
from dz_assets.province.reader.index import Dataset


def test_delete_without_the_catalogue_key_is_rejected_even_if_the_dataset_pk_differs():
    t = load_catalogue().tables["ZHXQ_ZHXQRYJCJLXX"]
    fields = tuple(IndexField(code=f.code, type="string" if f.type == "file" else f.type, length=f.length)
                   for f in t.fields)
    other = next(f.code for f in t.fields if f.code not in t.key)
    ds = Dataset(table=t.code, pk=(other,), fields=fields, files=())
    codes = [f.code for f in fields]
    values = ["X1" if c == other else "" for c in codes]
    good = ["X2" if c in (other, *t.key) else "" for c in codes]
    data = b"".join("\t".join(["D", "20261121080000", *v]).encode() + b"\n" for v in (values, good))
    chunk = prove_chunk(data, 1, ds, "f.bcp", kind="INCR")
    assert [(r.line, r.field) for r in chunk.rejects] == [(1, t.key[0])]
    assert len(chunk.frame) == 1
