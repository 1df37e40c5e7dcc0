"""Readers shared by the recipes: gzip-or-plain files, CSV with checked headers, JSON lines, xlsx,
and a fast index over very large CSV files (the 3.3 GB MIMIC-IV-Note discharge file).

Every reading problem becomes an :class:`~clue.errors.InputError` whose one-line message names the
file and the row, line or field at fault.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import gzip
import io
import json
import queue
import sys
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clue.errors import InputError
from clue.io import os_error_message, parse_jsonl

GZIP_MAGIC = b"\x1f\x8b"

try:  # zlib-ng inflates the same streams about twice as fast as the stdlib's zlib (same API, copy() included)
    from zlib_ng import zlib_ng as _inflate_lib
except ImportError:  # pragma: no cover - the stdlib is the fallback
    _inflate_lib = zlib
INFLATE_ERRORS = (zlib.error, _inflate_lib.error)
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # discharge notes are long quoted fields


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not enabled, leave=False)


# --------------------------------------------------------------------------------------------
# decompressed bytes of a gz or plain file, in blocks, with random access by checkpoints
# --------------------------------------------------------------------------------------------

@dataclass
class _Checkpoint:
    compressed_pos: int     # file offset of the next compressed byte to feed
    decompressed_pos: int   # decompressed offset reached at that point
    inflater: object        # a copy of the zlib decompressor state (about 35 KB)


@dataclass
class ByteSource:
    """The bytes of ``path`` after gzip decompression (or as they are for a plain file).

    :meth:`blocks` streams them once, recording zlib checkpoints every ``checkpoint_every``
    compressed bytes; :meth:`read_ranges` then returns byte ranges of the decompressed stream
    without inflating the whole file again (a plain file is simply seeked).
    """

    path: Path
    chunk_size: int = 1 << 20
    checkpoint_every: int = 1 << 20
    gz: bool = field(init=False)
    checkpoints: list[_Checkpoint] = field(init=False, default_factory=list)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.gz = is_gzip(self.path)
        self.size = self.path.stat().st_size

    def _inflate(self, handle, inflater, compressed_pos: int, decompressed_pos: int, checkpoints: bool):
        """Yield (decompressed offset, bytes, compressed position) from the current position."""
        next_checkpoint = compressed_pos + self.checkpoint_every
        while True:
            chunk = handle.read(self.chunk_size)
            if not chunk:
                if not inflater.eof:
                    raise InputError(
                        f"{self.path}: truncated gzip file: the compressed data ends at byte {compressed_pos} "
                        "before the end-of-stream marker (download it again)")
                return
            compressed_pos += len(chunk)
            while chunk:
                try:
                    data = inflater.decompress(chunk)
                except INFLATE_ERRORS as exc:
                    raise InputError(f"{self.path}: corrupt gzip data before compressed byte {compressed_pos}: {exc}") from None
                if data:
                    yield decompressed_pos, data, compressed_pos
                    decompressed_pos += len(data)
                chunk = b""
                if inflater.eof:  # a further gzip member may follow (concatenated .gz files)
                    rest = inflater.unused_data
                    if rest.strip(b"\0"):
                        inflater = _inflate_lib.decompressobj(31)
                        chunk = rest
            if checkpoints and compressed_pos >= next_checkpoint and not inflater.eof:
                self.checkpoints.append(_Checkpoint(compressed_pos, decompressed_pos, inflater.copy()))
                next_checkpoint = compressed_pos + self.checkpoint_every

    def blocks(self, progress: bool = False, desc: str = "reading") -> Iterator[tuple[int, bytes]]:
        """Yield ``(offset, data)`` blocks of the decompressed stream, in order."""
        self.checkpoints = []
        bar = _progress(self.size, f"{desc} {self.path.name}", progress)
        with open(self.path, "rb") as handle, bar:
            if not self.gz:
                offset = 0
                while chunk := handle.read(self.chunk_size * 8):
                    yield offset, chunk
                    offset += len(chunk)
                    bar.update(len(chunk))
                return
            last = 0
            for offset, data, compressed_pos in self._inflate(handle, _inflate_lib.decompressobj(31), 0, 0, True):
                yield offset, data
                bar.update(compressed_pos - last)
                last = compressed_pos

    def read_ranges(self, ranges: Sequence[tuple[int, int]], progress: bool = False) -> list[bytes]:
        """The decompressed bytes ``[start, end)`` of each range; ranges sorted by start, not overlapping."""
        out: list[bytes] = []
        bar = _progress(len(ranges), f"fetching from {self.path.name}", progress)
        with open(self.path, "rb") as handle, bar:
            if not self.gz:
                for start, end in ranges:
                    handle.seek(start)
                    out.append(handle.read(end - start))
                    bar.update(1)
                return out
            positions = [cp.decompressed_pos for cp in self.checkpoints]
            stream = None
            buffer, buffer_start = b"", 0   # the last decompressed chunk and its offset
            for start, end in ranges:
                k = bisect.bisect_right(positions, start) - 1
                checkpoint = self.checkpoints[k] if k >= 0 else None
                if stream is None or (checkpoint and buffer_start + len(buffer) < checkpoint.decompressed_pos):
                    # jump ahead: inflate again from the last checkpoint before `start`
                    if checkpoint is None:
                        handle.seek(0)
                        stream = self._inflate(handle, _inflate_lib.decompressobj(31), 0, 0, False)
                        buffer, buffer_start = b"", 0
                    else:
                        handle.seek(checkpoint.compressed_pos)
                        stream = self._inflate(handle, checkpoint.inflater.copy(), checkpoint.compressed_pos,
                                               checkpoint.decompressed_pos, False)
                        buffer, buffer_start = b"", checkpoint.decompressed_pos
                pieces = []
                reached = buffer_start + len(buffer)
                if reached > start:
                    pieces.append(buffer[start - buffer_start:end - buffer_start])
                while reached < end:
                    try:
                        offset, data, _ = next(stream)
                    except StopIteration:
                        raise InputError(f"{self.path}: ended at byte {reached}, before byte {end}: "
                                         "the file changed since it was indexed") from None
                    buffer, buffer_start = data, offset
                    reached = offset + len(data)
                    if reached > start:
                        pieces.append(data[max(0, start - offset):end - offset])
                out.append(b"".join(pieces))
                bar.update(1)
        return out


def _prefetch(iterator: Iterable, depth: int = 8) -> Iterator:
    """Run ``iterator`` in a background thread (zlib and file reads release the GIL, so inflating
    overlaps with the caller's scanning on a second core)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                items.put(item)
            items.put(done)
        except BaseException as exc:  # handed to the consumer
            items.put(exc)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                worker.join(0.05)


# --------------------------------------------------------------------------------------------
# an index of CSV records (row boundaries found from quote parity, with numpy)
# --------------------------------------------------------------------------------------------

QUOTE, NEWLINE = 34, 10
_KEY_SPAN = 256


@dataclass
class CsvIndex:
    """Where each record of a CSV file lies in its decompressed bytes.

    Record 0 is the header; ``bounds[k]`` .. ``bounds[k + 1]`` are the bytes of record ``k``. A
    newline ends a record when an even number of quote characters precedes it, which is how the csv
    module reads RFC 4180 files (doubled quotes inside a quoted field keep the parity).
    ``keys`` holds each record's first field when asked for.
    """

    source: ByteSource
    header: list[str]
    bounds: np.ndarray
    keys: list[str] | None = None

    @property
    def n_rows(self) -> int:
        """Data rows (header excluded)."""
        return len(self.bounds) - 2

    def fetch(self, rows: Iterable[int], progress: bool = False) -> dict[int, list[str]]:
        """Parse data rows (0-based, header excluded) into lists of fields, checking their width."""
        wanted = sorted(set(rows))
        ranges = [(int(self.bounds[r + 1]), int(self.bounds[r + 2])) for r in wanted]
        parsed = {}
        for row, raw in zip(wanted, self.source.read_ranges(ranges, progress=progress)):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{self.source.path}: row {row + 1}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
            fields = list(csv.reader(io.StringIO(text, newline="")))
            if len(fields) != 1 or len(fields[0]) != len(self.header):
                found = len(fields[0]) if len(fields) == 1 else f"{len(fields)} records"
                raise InputError(f"{self.source.path}: row {row + 1}: expected {len(self.header)} fields "
                                 f"({', '.join(self.header)}), found {found}")
            parsed[row] = fields[0]
        return parsed


def index_csv(path: Path, progress: bool = False, keys: bool = False, checkpoints: int = 2048,
              chunk_size: int = 1 << 16) -> CsvIndex:
    """Stream ``path`` (gz or plain) once and find every record boundary; holds no field text.

    ``chunk_size`` compressed bytes are inflated at a time: 64 KB keeps each output block small
    enough to be reused by the allocator (1 MB inputs made zlib-ng map and unmap fresh pages for
    every block, about 2 s of system time on the 3.3 GB discharge file).

    For a gzip file, about ``checkpoints`` inflater states (35 KB each) are kept so that
    :meth:`CsvIndex.fetch` inflates only the stretches holding the rows it is asked for.
    """
    size = Path(path).stat().st_size
    every = min(4 << 20, max(min(128 << 10, chunk_size), size // checkpoints))
    # a checkpoint can only be taken between two reads, so read no more than one interval at a time
    source = ByteSource(Path(path), chunk_size=min(chunk_size, every), checkpoint_every=every)
    ends: list[np.ndarray] = []
    parity = 0
    total = 0
    key_list: list[str] | None = [] if keys else None
    first_block = b""
    carry = b""      # the last bytes of the previous block
    pending = [0]    # record starts whose first field is not yet in view
    for offset, data in _prefetch(source.blocks(progress=progress, desc="indexing")):
        if not first_block:
            first_block = data[:1 << 16]
        buffer = np.frombuffer(data, dtype=np.uint8)
        quotes = np.flatnonzero(buffer == QUOTE)
        newlines = np.flatnonzero(buffer == NEWLINE)
        before = np.searchsorted(quotes, newlines)
        block_ends = newlines[((before + parity) & 1) == 0] + (offset + 1)
        parity = (parity + len(quotes)) & 1
        ends.append(block_ends)
        total = offset + len(data)
        if key_list is not None:
            window, window_start = carry + data[:_KEY_SPAN], offset - len(carry)
            for start in pending:
                key_list.append(_first_field(window[start - window_start:]))
            pending = []
            for start in block_ends.tolist():
                local = start - offset
                if local + _KEY_SPAN <= len(data):
                    key_list.append(_first_field(data[local:local + _KEY_SPAN]))
                else:
                    pending.append(start)
            carry = data[-_KEY_SPAN:]
    if parity:
        raise InputError(f"{path}: unbalanced double quotes: the last quoted field never closes (truncated file?)")
    all_ends = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    last = int(all_ends[-1]) if len(all_ends) else 0
    if total > last:  # a last record without a final newline
        all_ends = np.append(all_ends, total)
    if key_list is not None:
        window_start = total - len(carry)
        key_list.extend(_first_field(carry[start - window_start:]) for start in pending)
        del key_list[len(all_ends):]
    if not len(all_ends):
        raise InputError(f"{path}: empty file (expected a CSV header)")
    bounds = np.concatenate([[0], all_ends]).astype(np.int64)
    header_bytes = first_block[: int(bounds[1])] if bounds[1] <= len(first_block) else source.read_ranges([(0, int(bounds[1]))])[0]
    header = next(csv.reader(io.StringIO(header_bytes.decode("utf-8", errors="replace"), newline="")), [])
    return CsvIndex(source, header, bounds, key_list)


def _first_field(raw: bytes) -> str:
    head = raw.split(b",", 1)[0].split(b"\n", 1)[0]
    return head.strip(b'"\r').decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# small files: text, CSV with checked columns, JSON lines, JSON, xlsx
# --------------------------------------------------------------------------------------------

def open_text(path: Path) -> io.TextIOBase:
    """A text handle (UTF-8, newline='' for csv) over a gz or plain file."""
    path = Path(path)
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


@contextlib.contextmanager
def _read_errors(path: Path, where: str, kind: str = "lines"):
    """Translate low-level read failures into one-line InputErrors.

    A byte that is not UTF-8 is located in the file itself (text is decoded in blocks, so the
    reader's position says nothing): its line, or for ``kind="csv"`` its CSV row (header = row 0).
    """
    try:
        yield
    except EOFError as exc:
        raise InputError(f"{path}: truncated gzip file ({where}): {exc}") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path}: corrupt gzip data ({where}): {exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: {_first_bad_utf8(path, kind) or f'not UTF-8 text ({where}): {exc.reason}'}") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({where}): {exc}") from None
    except OSError as exc:
        raise InputError(os_error_message(path, exc)) from None


def _first_bad_utf8(path: Path, kind: str) -> str | None:
    """'line N: not UTF-8 text (…)' (or 'row N' for a CSV) for the first byte that is not UTF-8."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = newlines = parity = records = 0
    try:
        handle = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
        with handle:
            while block := handle.read(1 << 20):
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    offset = fed - pending + exc.start
                    head = block[: max(0, offset - fed)]
                    byte = block[offset - fed] if offset >= fed else None   # else: begun in the previous block
                    newlines += head.count(b"\n")
                    records += _record_ends(head, parity)[0]
                    where = f"row {records}" if kind == "csv" else f"line {newlines + 1}"
                    shown = f"byte 0x{byte:02x} " if byte is not None else ""
                    return f"{where}: not UTF-8 text ({shown}at byte offset {offset}: {exc.reason})"
                newlines += block.count(b"\n")
                ended, parity = _record_ends(block, parity)
                records += ended
                fed += len(block)
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _record_ends(data: bytes, parity: int) -> tuple[int, int]:
    """(CSV records ended by newlines in ``data``, quote parity after it), as index_csv counts them."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buffer == QUOTE)
    newlines = np.flatnonzero(buffer == NEWLINE)
    before = np.searchsorted(quotes, newlines)
    return int(np.count_nonzero(((before + parity) & 1) == 0)), (parity + len(quotes)) & 1


def match_columns(path: Path, found: Sequence[str], expected: dict[str, Sequence[str]]) -> dict[str, int]:
    """Map each expected column (with its accepted spellings) to its index in ``found``."""
    where = {name.strip(): i for i, name in enumerate(found)}
    positions, missing = {}, []
    for column, spellings in expected.items():
        hit = next((where[s] for s in (column, *spellings) if s in where), None)
        if hit is None:
            missing.append(" or ".join((column, *spellings)))
        else:
            positions[column] = hit
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                         f"{', '.join(expected)}, found {', '.join(found) or 'no header'}")
    return positions


def read_header(path: Path, reader: Iterator[list[str]], expected: dict[str, Sequence[str]]) -> tuple[list[str], dict[str, int]]:
    """The first row of a ``csv.reader`` and the position of each expected column in it."""
    header = next(reader, None)
    if header is None:
        raise InputError(f"{path}: empty file (expected a CSV header with {', '.join(expected)})")
    return header, match_columns(path, header, expected)


def csv_rows(path: Path, expected: dict[str, Sequence[str]], required: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (row number, {column: value}) for a gz or plain CSV, columns checked against
    ``expected`` (name -> accepted other spellings); empty values in ``required`` columns are refused."""
    path = Path(path)
    with _read_errors(path, "header", "csv"), open_text(path) as handle:
        reader = csv.reader(handle)
        header, positions = read_header(path, reader, expected)
        width = len(header)
        row_number = 0
        with _read_errors(path, "after the header", "csv"):
            for row_number, row in enumerate(reader, start=1):
                if not row:
                    continue
                if len(row) != width:
                    raise InputError(f"{path}: row {row_number}: expected {width} fields, found {len(row)}")
                record = {column: row[i] for column, i in positions.items()}
                for column in required:
                    if not record[column].strip():
                        raise InputError(f"{path}: row {row_number}: empty {column!r}")
                yield row_number, record


def json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for a JSON-lines file; an invalid line names its number."""
    path = Path(path)
    with _read_errors(path, "reading"), open_text(path) as handle:
        yield from parse_jsonl(path, handle)


def json_document(path: Path):
    path = Path(path)
    with _read_errors(path, "reading"), open_text(path) as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def require_fields(path: Path, where: str, record: dict, fields: Sequence[str]) -> None:
    missing = [f for f in fields if f not in record]
    if missing:
        raise InputError(f"{path}: {where}: missing field(s) {', '.join(missing)}; found {', '.join(map(str, record)) or 'none'}")
    empty = [f for f in fields if record[f] is None or (isinstance(record[f], str) and not record[f].strip())]
    if empty:
        raise InputError(f"{path}: {where}: empty field(s) {', '.join(empty)}")


def xlsx_rows(path: Path, sheet: str, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (spreadsheet row number, {column: text}) from ``sheet`` of an xlsx workbook."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    path = Path(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: not a readable xlsx workbook ({exc.__class__.__name__}: {exc})") from None
    except zlib.error as exc:
        raise InputError(f"{path}: not a readable xlsx workbook (zip data: {exc})") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise InputError(f"{path}: not a readable xlsx workbook ({exc.__class__.__name__}: {exc})") from None
    try:
        if sheet not in book.sheetnames:
            raise InputError(f"{path}: no sheet {sheet!r}; found sheets {', '.join(book.sheetnames)}")
        rows = book[sheet].iter_rows(values_only=True)
        header = [("" if v is None else str(v)).strip() for v in next(rows, ())]
        positions = match_columns(path, header, {c: () for c in columns})
        for number, row in enumerate(rows, start=2):
            if row is None or all(v is None for v in row):
                continue
            values = {c: row[i] if i < len(row) else None for c, i in positions.items()}
            yield number, {c: "" if v is None else str(v) for c, v in values.items()}
    finally:
        book.close()
