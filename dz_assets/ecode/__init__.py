"""QR codes for sign making (spec/ecode-redirect.md, "Daily QR batch (T+1)"; requirement §3.5).

- :mod:`history`: the standard addresses' history (``meta.address_state``) and which addresses a
  day's batch holds;
- :mod:`render`: one captioned PNG per address (segno, Pillow, a CJK font), verified by zxing-cpp;
- :mod:`workers`: rendering on several processes, in input order;
- :mod:`package`: the zip and its manifest, byte-identical on re-run;
- :mod:`print_sheet`: the A4 print sheet (PDF) sign makers work from;
- :mod:`batch`: the daily batch, reprints and the first issue, registered in ``meta.qr_batch``.

Nothing here knows Dagster: ``defs/ecode`` and ``dzhub qr`` call these functions.
"""
