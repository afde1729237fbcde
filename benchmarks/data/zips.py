"""Zip members without a clock: the bytes of a zip we write depend on its content only.

``ZipFile.writestr(name, data)`` stamps every member with the current time, so two runs over the same input give
different files (and different checksums); ``sgvb prepare`` and ``sgvb convert`` store every member through ``put``
with one fixed date and mode instead.
"""

from __future__ import annotations

import zipfile

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # every member's date (the earliest a zip can hold)


def put(zf: zipfile.ZipFile, name: str, data: bytes | str) -> None:
    """Store ``data`` as ``name`` (uncompressed: JPEG frames do not shrink) with ``ZIP_DATE`` and a fixed mode."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = (0o40755 << 16) | 0x10 if name.endswith("/") else 0o644 << 16
    zf.writestr(info, data, compress_type=zipfile.ZIP_STORED)
