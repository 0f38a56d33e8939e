"""Returning the C heap's free pages to the system."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

from wxstream.heap import release_free_heap

MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="malloc_trim is a glibc function"
)


def resident_bytes() -> int:
    pages = int(Path(f"/proc/{os.getpid()}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def test_release_free_heap_lowers_resident_size() -> None:
    # 4 KiB blocks come from glibc's heap, not from Python's small-object allocator.
    blocks = [bytearray(4096) for _ in range(20_000)]
    # A block allocated last keeps the top of the heap in use, so free() alone cannot
    # shrink the heap and the freed blocks stay resident.
    pinned = bytearray(4096)
    del blocks
    before = resident_bytes()

    assert release_free_heap()

    assert resident_bytes() < before - 40 * MIB
    assert len(pinned) == 4096
