"""Stream one multipart file upload straight to disk in chunks, with small form fields beside it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from anyio import to_thread
from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from siyu.console import errors
from siyu.core.errors import SiyuError

MAX_FIELD_BYTES = 4096
MAX_FIELDS = 16
FLUSH_BYTES = 1024 * 1024
_UNITS = ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB"))


def _too_large(limit: int) -> SiyuError:
    return errors.UPLOAD_TOO_LARGE(
        f"uploads are limited to {limit} bytes", data={"limit": limit}, limit=_readable(limit)
    )


def _readable(size: int) -> str:
    """A limit as operators read it: "2 GiB" (limits are round numbers of a unit)."""
    for unit, name in _UNITS:
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


def _malformed(reason: str) -> SiyuError:
    return errors.UPLOAD_INVALID(reason)


@dataclass
class Upload:
    """What arrived: the small fields, and the file's name and size as written to `path`."""

    path: Path
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    size: int = 0


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Receiver:
    """Callbacks of the streaming parser; file bytes wait in `pending` until the next flush."""

    def __init__(
        self,
        upload: Upload,
        file_field: str,
        max_bytes: int,
        accept_file: Callable[[Upload, str], None],
    ) -> None:
        self.upload = upload
        self.file_field = file_field
        self.max_bytes = max_bytes
        self.accept_file = accept_file
        self.part = _Part()
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.disposition = b""
        self.pending = bytearray()
        self.writing = False
        self.ended = False

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_name).lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.upload.fields) >= MAX_FIELDS:
                raise _malformed("too many form fields")
            return
        if self.part.name != self.file_field or self.upload.filename is not None:
            raise _malformed(f"one file is expected, in the field {self.file_field!r}")
        raw = options[b"filename"].decode("utf-8", "replace").replace("\\", "/")
        filename = PurePosixPath(raw).name[:255]
        # Checked before the first byte is written, so a refused upload costs no disk.
        self.accept_file(self.upload, filename)
        self.part.filename = self.upload.filename = filename
        self.writing = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.writing:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise _too_large(self.max_bytes)
            self.pending += data[start:end]
            return
        self.part.data += data[start:end]
        if len(self.part.data) > MAX_FIELD_BYTES:
            raise _malformed(f"the form field {self.part.name!r} is too long")

    def on_part_end(self) -> None:
        if self.writing:
            self.writing = False
        elif self.part.name:
            self.upload.fields[self.part.name] = self.part.data.decode("utf-8", "replace")

    def on_end(self) -> None:
        self.ended = True

    def take_pending(self) -> bytes:
        chunk = bytes(self.pending)
        self.pending.clear()
        return chunk


class _Sink:
    """The destination file, opened at the first byte; writes run off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stream: IO[bytes] | None = None

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self.stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = await to_thread.run_sync(self.path.open, "wb")
        await to_thread.run_sync(self.stream.write, data)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _feed(parser: MultipartParser, chunk: bytes) -> None:
    try:
        parser.write(chunk)
    except (MultipartParseError, FormParserError) as exc:
        raise _malformed(f"malformed multipart body: {exc}") from exc


async def receive_upload(
    content_type: str,
    body: AsyncIterator[bytes],
    path: Path,
    *,
    file_field: str,
    max_bytes: int,
    accept_file: Callable[[Upload, str], None],
) -> Upload:
    """Parse `multipart/form-data` from `body`, writing the one file part to `path`.

    `accept_file(upload, filename)` runs when the file part starts, with the fields sent
    before it, and raises to refuse. On any failure the partial file is removed.
    """
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise _malformed("the upload must be multipart/form-data")
    upload = Upload(path=path)
    receiver = _Receiver(upload, file_field, max_bytes, accept_file)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
            "on_end": receiver.on_end,
        },
    )
    sink = _Sink(path)
    try:
        async for chunk in body:
            _feed(parser, chunk)
            if len(receiver.pending) >= FLUSH_BYTES or (receiver.pending and not receiver.writing):
                await sink.write(receiver.take_pending())
        parser.finalize()
        if not receiver.ended:
            raise _malformed("the upload ended before its closing boundary")
        await sink.write(receiver.take_pending())
        if upload.filename is None:
            raise errors.UPLOAD_MISSING("no file was uploaded")
    except BaseException:
        sink.discard()
        raise
    sink.close()
    return upload
