"""Temporary alias while a concurrent change still imports the old path: use dz_assets.idcard."""

from dz_assets.idcard import *  # noqa: F403
from dz_assets.idcard import check_digit, id_problem, is_valid_id, make_id  # noqa: F401
