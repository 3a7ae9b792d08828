"""Office files are zip archives: before a library opens an uploaded XLSX, the sizes its members declare are
checked, so that a small upload cannot unpack into gigabytes (a zip bomb) in memory or on disk.

The declared sizes are a real bound: Python's `zipfile`, which openpyxl reads through, stops every member at the
size it declares (a member that holds more fails its CRC check instead of growing). A file that is not a zip
archive passes here unchanged: the reader then says it is unreadable.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

MAX_UNPACKED = 1 << 30  # every member together, unpacked: 1 GiB (a 1,000,000-row sheet is a few hundred MB)
MAX_MEMBERS = 10_000
MAX_RATIO = 1000  # unpacked / packed, for a member of more than RATIO_FROM bytes unpacked
RATIO_FROM = 10 << 20


class ArchiveRefused(ValueError):
    """An archive refused before opening; `code` names the reason for the callers' messages."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def check_zip(path: Path) -> None:
    """Raises ArchiveRefused when the archive at `path` would unpack beyond the limits above."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return
    if len(members) > MAX_MEMBERS:
        raise ArchiveRefused("archive_members", f"{len(members)} members (at most {MAX_MEMBERS})")
    unpacked = 0
    for member in members:
        unpacked += member.file_size
        packed = max(member.compress_size, 1)
        if member.file_size > RATIO_FROM and member.file_size / packed > MAX_RATIO:
            raise ArchiveRefused(
                "archive_ratio", f"{member.filename} unpacks {member.file_size // packed} times its size"
            )
    if unpacked > MAX_UNPACKED:
        raise ArchiveRefused("archive_size", f"{unpacked} bytes unpacked (at most {MAX_UNPACKED})")
