"""What an office file is by its first bytes when its name says otherwise.

An OLE compound file is not the zip an .xlsx or .docx is: it is Office 97-2003's .xls or .doc (or WPS's
.et or .wps) saved under the newer name, or an .xlsx or .docx encrypted with a password to open it (Excel,
Word and WPS wrap the encrypted document in a compound file, as a stream named "EncryptedPackage", whose
name the file's directory holds in UTF-16). Each needs a different answer from the clerk or the bureau:
save it in the newer format, or remove the password (saving it again keeps the password)."""

from __future__ import annotations

from typing import Literal

COMPOUND_FILE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def compound_file(data: bytes) -> Literal["encrypted", "binary"] | None:
    """ "encrypted" for a document with a password to open it, "binary" for a 97-2003 format document,
    None when `data` is not a compound file."""
    if not data.startswith(COMPOUND_FILE_MAGIC):
        return None
    return "encrypted" if _ENCRYPTED_PACKAGE in data else "binary"
