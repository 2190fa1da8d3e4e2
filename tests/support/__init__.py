"""Helpers shared by the tests (importable as ``support.…``: pytest puts ``tests/`` on the path,
see ``pythonpath`` in pyproject.toml): tiny hand-built packages, a reader of synthetic packages,
and the redirect service's sample database and fixed test keys."""
