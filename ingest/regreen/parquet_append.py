"""Appending the row groups of one Parquet file DuckDB wrote to another, without rewriting the rows.

A Parquet file is `PAR1`, its row groups' pages, then its footer (the thrift FileMetaData: the schema
and, for each row group, every column chunk's offsets, sizes, encodings and statistics), the footer's
length and `PAR1` again. Two files DuckDB wrote from queries of the same columns make one file: the
first's bytes up to its footer, the second's pages after them, and one footer listing the first's row
groups and then the second's, their offsets moved by where their pages now start. Every page stays as
DuckDB wrote it, so the values, encodings, statistics and types are those of a file DuckDB writes whole;
readers (DuckDB, pyarrow, fastparquet, Spark…) see one file of more row groups. Only the footer is
written here, through the thrift codec of fastparquet (the dask project's Parquet library).

That codec writes the fields of the Parquet format up to field 13 of a structure, so a footer it does
not give back byte for byte (a bloom filter's offset is field 14 of ColumnMetaData, as are later
additions to the format) is not merged: the caller then writes the file whole. So are files whose
schemas, key-value metadata or column orders differ, and any layout whose offsets this module does not
move (page indexes, chunks in other files, encryption, numbered row groups).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"PAR1"
_TAIL = struct.Struct("<I4s")  # the footer's length, then the magic
_CHUNK = 1 << 20


def _footer(handle: BinaryIO) -> tuple[int, bytes] | None:
    """Where the footer of the open Parquet file starts, and its bytes; None if it is not one."""
    size = os.fstat(handle.fileno()).st_size
    if size < 2 * len(MAGIC) + _TAIL.size:
        return None
    handle.seek(size - _TAIL.size)
    length, magic = _TAIL.unpack(handle.read(_TAIL.size))
    start = size - _TAIL.size - length
    if magic != MAGIC or start < len(MAGIC):
        return None
    handle.seek(start)
    return start, handle.read(length)


def _serialise(data: dict, bound: int) -> bytes:
    """`data` (a thrift structure as fastparquet's codec reads it) in thrift's compact protocol, into a
    buffer of our own of twice `bound`, the most it can take: the codec does not check a buffer's end."""
    import numpy as np
    from fastparquet.cencoding import NumpyIO, write_thrift

    buffer = np.empty(2 * bound + 1024, dtype=np.uint8)
    output = NumpyIO(buffer)
    write_thrift(data, output)
    return bytes(output.so_far())


def _read(footer: bytes) -> Any | None:
    """The FileMetaData of `footer`, if fastparquet's codec writes it back byte for byte."""
    from fastparquet.cencoding import from_buffer

    metadata = from_buffer(footer, "FileMetaData")
    return metadata if _serialise(metadata.contents, len(footer)) == footer else None


def _movable(metadata: Any) -> bool:
    """Whether every offset of `metadata`'s row groups is one `_shift` moves."""
    for group in metadata.row_groups or ():
        if group.ordinal is not None:
            return False
        for chunk in group.columns:
            if (
                chunk.file_path is not None
                or chunk.meta_data is None
                or chunk.offset_index_offset is not None
                or chunk.column_index_offset is not None
                or chunk.crypto_metadata is not None
                or chunk.encrypted_column_metadata is not None
            ):
                return False
    return True


def _shift(group: Any, by: int) -> None:
    """Move the offsets of row group `group` by `by` bytes (a chunk's deprecated `file_offset` only when
    it was written: DuckDB writes 0 there)."""
    if group.file_offset is not None:
        group.file_offset += by
    for chunk in group.columns:
        if chunk.file_offset:
            chunk.file_offset += by
        meta = chunk.meta_data
        meta.data_page_offset += by
        if meta.dictionary_page_offset is not None:
            meta.dictionary_page_offset += by
        if meta.index_page_offset is not None:
            meta.index_page_offset += by


def append_row_groups(target: Path, tail: Path) -> bool:
    """Add the row groups of the Parquet file `tail` after those of the Parquet file `target`, in place:
    `target` then holds its rows followed by `tail`'s. False, with `target` unchanged, when the two
    cannot be merged this way (see the module's docstring); the caller writes the file whole then.
    `target` must be a file of the caller's own: it is rewritten from its footer on."""
    with target.open("r+b") as out, tail.open("rb") as source:
        head_footer, tail_footer = _footer(out), _footer(source)
        if head_footer is None or tail_footer is None:
            return False
        head_end, head_bytes = head_footer
        tail_end, tail_bytes = tail_footer
        head, extra = _read(head_bytes), _read(tail_bytes)
        if head is None or extra is None or not (_movable(head) and _movable(extra)):
            return False
        for field in ("version", "schema", "key_value_metadata", "created_by", "column_orders"):
            if getattr(head, field) != getattr(extra, field):
                return False
        for group in extra.row_groups or ():
            _shift(group, head_end - len(MAGIC))
        head.row_groups = [*(head.row_groups or ()), *(extra.row_groups or ())]
        head.num_rows = head.num_rows + extra.num_rows
        footer = _serialise(head.contents, len(head_bytes) + len(tail_bytes))
        out.seek(head_end)
        out.truncate()
        source.seek(len(MAGIC))
        remaining = tail_end - len(MAGIC)
        while remaining > 0:
            chunk = source.read(min(remaining, _CHUNK))
            if not chunk:
                raise OSError(f"{tail}: the file ended before its footer")
            out.write(chunk)
            remaining -= len(chunk)
        out.write(footer)
        out.write(_TAIL.pack(len(footer), MAGIC))
    return True
