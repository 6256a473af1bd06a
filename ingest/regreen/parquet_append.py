"""Appending row groups to a Parquet file without rewriting the rows it holds.

A Parquet file is `PAR1`, its row groups' column chunks, the footer (a Thrift compact-protocol
FileMetaData naming every row group and the absolute byte offsets of its pages), the footer's length and
`PAR1` again. Another file written with the same schema (the rows to append, written by DuckDB) is
appended by keeping the first file's bytes up to its footer, adding the second file's bytes between its
magic and its footer, and writing one footer that lists both files' row groups, the second's with every
offset moved by where its bytes now start. Readers see the rows of the first file, then those of the
second, with their values, types and statistics as written.

Only what this needs of Thrift's compact protocol is here: a lossless reader of any struct into a tree
of (field id, type, value) and a writer that gives the same bytes back.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

MAGIC = b"PAR1"
# Compact protocol type codes.
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)

# The parquet.thrift field ids that hold absolute file offsets, by the struct that holds them.
_ROW_GROUP_COLUMNS, _ROW_GROUP_FILE_OFFSET, _ROW_GROUP_ORDINAL = 1, 5, 7
_CHUNK_FILE_OFFSET, _CHUNK_META, _CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX = 2, 3, 4, 6
_META_OFFSETS = (9, 10, 11, 14)  # data_page, index_page, dictionary_page, bloom_filter
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4

Field = tuple[int, int, Any]  # field id, compact type, value


class ParquetAppendError(ValueError):
    """The two files cannot be joined this way (not Parquet, other schemas): write the file whole."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        value = self.data[self.at]
        self.at += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def value(self, kind: int) -> Any:
        if kind in (_TRUE, _FALSE):  # a bool in a list or set: one byte
            return self.byte()
        if kind == _BYTE:
            return self.byte()
        if kind in (_I16, _I32, _I64):
            return self.zigzag()
        if kind == _DOUBLE:
            value = self.data[self.at : self.at + 8]
            self.at += 8
            return value
        if kind == _BINARY:
            size = self.varint()
            value = self.data[self.at : self.at + size]
            self.at += size
            return value
        if kind in (_LIST, _SET):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            return element, [self.value(element) for _ in range(size)]
        if kind == _MAP:
            size = self.varint()
            types = self.byte() if size else 0
            return types, [(self.value(types >> 4), self.value(types & 0x0F)) for _ in range(size)]
        if kind == _STRUCT:
            return self.struct()
        raise ParquetAppendError(f"unknown Thrift compact type {kind}")

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while (header := self.byte()) != _STOP:
            kind, delta = header & 0x0F, header >> 4
            last = last + delta if delta else self.zigzag()
            value = kind if kind in (_TRUE, _FALSE) else self.value(kind)
            fields.append((last, kind, value))
        return fields


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        while value > 0x7F:
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7
        self.out.append(value)

    def zigzag(self, value: int) -> None:
        self.varint((value << 1) ^ (value >> 63))

    def value(self, kind: int, value: Any) -> None:
        if kind in (_TRUE, _FALSE, _BYTE):
            self.out.append(value)
        elif kind in (_I16, _I32, _I64):
            self.zigzag(value)
        elif kind == _DOUBLE:
            self.out += value
        elif kind == _BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (_LIST, _SET):
            element, items = value
            if len(items) < 15:
                self.out.append(len(items) << 4 | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(items))
            for item in items:
                self.value(element, item)
        elif kind == _MAP:
            types, items = value
            self.varint(len(items))
            if items:
                self.out.append(types)
            for key, item in items:
                self.value(types >> 4, key)
                self.value(types & 0x0F, item)
        elif kind == _STRUCT:
            self.struct(value)
        else:
            raise ParquetAppendError(f"unknown Thrift compact type {kind}")

    def struct(self, fields: list[Field]) -> None:
        last = 0
        for number, kind, value in fields:
            if 0 < number - last <= 15:
                self.out.append((number - last) << 4 | kind)
            else:
                self.out.append(kind)
                self.zigzag(number)
            last = number
            if kind not in (_TRUE, _FALSE):
                self.value(kind, value)
        self.out.append(_STOP)


def _footer(path: Path) -> tuple[int, list[Field]]:
    """Where `path`'s footer starts, and the footer (FileMetaData) as a tree."""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(size - 8)
        tail = handle.read(8)
        if size < 12 or tail[4:] != MAGIC:
            raise ParquetAppendError(f"{path} is not a Parquet file")
        (length,) = struct.unpack("<I", tail[:4])
        start = size - 8 - length
        handle.seek(0)
        if start < 4 or handle.read(4) != MAGIC:
            raise ParquetAppendError(f"{path} is not a Parquet file")
        handle.seek(start)
        reader = _Reader(handle.read(length))
    return start, reader.struct()


def _get(fields: list[Field], number: int) -> Any:
    return next((value for n, _, value in fields if n == number), None)


def _replaced(fields: list[Field], number: int, value: Any) -> list[Field]:
    return [(n, kind, value if n == number else old) for n, kind, old in fields]


def _shifted(fields: list[Field], numbers: tuple[int, ...], shift: int) -> list[Field]:
    """`fields` with the (non-zero) offsets among `numbers` moved by `shift` bytes."""
    return [(n, kind, old + shift if n in numbers and old else old) for n, kind, old in fields]


def _moved_row_group(group: list[Field], shift: int, ordinal: int) -> list[Field]:
    element, chunks = _get(group, _ROW_GROUP_COLUMNS)
    moved = []
    for chunk in chunks:
        chunk = _shifted(chunk, (_CHUNK_FILE_OFFSET, _CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX), shift)
        meta = _get(chunk, _CHUNK_META)
        moved.append(_replaced(chunk, _CHUNK_META, _shifted(meta, _META_OFFSETS, shift)))
    group = _replaced(group, _ROW_GROUP_COLUMNS, (element, moved))
    group = _shifted(group, (_ROW_GROUP_FILE_OFFSET,), shift)
    return _replaced(group, _ROW_GROUP_ORDINAL, ordinal)


def append_parquet(target: Path, tail: Path, max_row_groups: int) -> None:
    """Append the rows of Parquet file `tail` (the same schema) to the Parquet file `target`, in place:
    `target`'s bytes up to its footer are kept (a copy made by reflink shares them with its original).
    Raises ParquetAppendError, changing nothing, when the schemas or the files' other metadata differ or
    the result would hold more than `max_row_groups` row groups (each append adds at least one, however
    few its rows): then write `target` whole instead."""
    head_end, head_meta = _footer(target)
    tail_end, tail_meta = _footer(tail)
    kept = [(n, kind, value) for n, kind, value in head_meta if n not in (_FILE_NUM_ROWS, _FILE_ROW_GROUPS)]
    if kept != [
        (n, kind, value) for n, kind, value in tail_meta if n not in (_FILE_NUM_ROWS, _FILE_ROW_GROUPS)
    ]:
        raise ParquetAppendError(f"{target} and {tail} differ in schema or metadata")
    element, groups = _get(head_meta, _FILE_ROW_GROUPS)
    _, added = _get(tail_meta, _FILE_ROW_GROUPS)
    if len(groups) + len(added) > max_row_groups:
        raise ParquetAppendError(f"{len(groups) + len(added)} row groups: more than {max_row_groups}")
    shift = head_end - len(MAGIC)  # the tail's bytes after its magic start where the head's footer did
    groups = groups + [_moved_row_group(group, shift, len(groups) + i) for i, group in enumerate(added)]
    meta = _replaced(head_meta, _FILE_ROW_GROUPS, (element, groups))
    meta = _replaced(meta, _FILE_NUM_ROWS, _get(head_meta, _FILE_NUM_ROWS) + _get(tail_meta, _FILE_NUM_ROWS))
    writer = _Writer()
    writer.struct(meta)
    with tail.open("rb") as rest, target.open("r+b", buffering=0) as out:
        out.truncate(head_end)
        out.seek(head_end)
        copy_range(rest.fileno(), out.fileno(), len(MAGIC), tail_end - len(MAGIC))
        out.write(bytes(writer.out) + struct.pack("<I", len(writer.out)) + MAGIC)


def copy_range(source: int, out: int, start: int, length: int) -> None:
    """Append `length` bytes of file descriptor `source` from `start` to `out`, by the kernel where it can
    (copy_file_range), else through this process."""
    try:
        while length > 0 and (copied := os.copy_file_range(source, out, length, start)):
            start, length = start + copied, length - copied
    except OSError:
        pass  # a filesystem or kernel without it: copied below
    while length > 0:
        chunk = os.pread(source, min(length, 1 << 20), start)
        os.write(out, chunk)
        start, length = start + len(chunk), length - len(chunk)
