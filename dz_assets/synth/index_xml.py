"""GAB_ZIP_INDEX.xml of package-format.md, written by hand (fixed attribute order and
indentation) so that the same package always has the same bytes."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr


def _attrs(pairs) -> str:
    return " ".join(f"{k}={quoteattr(str(v))}" for k, v in pairs if v is not None)


def field_xml(f, full: bool = True) -> str:
    if not full:
        return f"<FIELD {_attrs([('code', f.code), ('type', f.type)])}/>"
    pairs = [("code", f.code), ("name", f.name), ("type", f.type),
             ("length", f.length if f.type == "string" and f.length else None),
             ("required", "true" if f.required else None), ("dict", f.dict if f.type == "code" else None)]
    return f"<FIELD {_attrs(pairs)}/>"


def index_xml(batch: dict, datasets: list[dict], recon: bool = False) -> str:
    """``batch``: id, kind, source, division, created, seq/prev. ``datasets``: table, name,
    encoding, pk, fields (catalogue Field-like), files [(name, records, sha256)], and for RECON
    rows and as_of."""
    order = ["id", "kind", "source", "division", "created", "seq", "prev"]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<MESSAGE version="1">',
             f"  <BATCH {_attrs([(k, batch.get(k)) for k in order if k in batch])}/>"]
    for ds in datasets:
        if recon:
            head = _attrs([("table", ds["table"]), ("pk", ds["pk"]), ("rows", ds["rows"]), ("as_of", ds["as_of"])])
            lines.append(f"  <RECON {head}>")
        else:
            head = _attrs([("table", ds["table"]), ("name", ds.get("name")),
                           ("encoding", ds.get("encoding", "UTF-8")), ("pk", ds["pk"])])
            lines.append(f"  <DATASET {head}>")
        lines.extend("    " + field_xml(f, not recon) for f in ds["fields"])
        for name, records, sha in ds["files"]:
            lines.append(f"    <FILE {_attrs([('name', name), ('records', records), ('sha256', sha)])}/>")
        lines.append("  </RECON>" if recon else "  </DATASET>")
    lines.append("</MESSAGE>")
    return "\n".join(lines) + "\n"
