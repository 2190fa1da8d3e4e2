"""Access and protection: who may read what, masked personal data, the audit log, secrets.

The database does the enforcing (migration ``0010_access``: group roles, masked views, jurisdiction
filters, the audited reveal, the append-only ``meta.audit``); this package feeds it the column
classification, applies grants again after swaps and rebuilds, and serves the ``dzhub users``,
``dzhub reveal`` and audit calls. It sits just above ``ods``: channels may call it after they
re-create tables.
"""
