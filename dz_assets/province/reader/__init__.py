"""The provincial package reader (package-format.md): the index, the package-level checks, BCP
proving and its C fast path, quality flags, the COPY payload and the verdict. No database."""
