"""The one compiled part of dz-hub (everything else is in pyproject.toml): the FULL load's fast
path, ``dz_assets/province/reader/_bcpfast.c``, which proves and encodes BCP lines without the GIL."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("dz_assets.province.reader._bcpfast", ["dz_assets/province/reader/_bcpfast.c"],
                             extra_compile_args=["-O2", "-Wall", "-Werror=implicit-function-declaration"])])
