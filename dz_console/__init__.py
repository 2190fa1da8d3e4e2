"""The operations console (运维控制台): Chinese pages for the bureau over the warehouse.

Every request runs as the signed-in login (``SET LOCAL ROLE``), so the roles, masking and
jurisdiction of migration 0010_access decide what each page shows; the console adds no
permission system of its own. See ``app.py`` for the routes.
"""
