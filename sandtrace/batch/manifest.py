"""The batch manifest: one SQLite file in the output folder, the batch's memory.

Only the batch's own process writes it (tasks, local or on Dask, report back
to it), one short transaction per change, so a SIGKILL leaves it consistent:
a source is ``done`` only after every one of its outputs is in place and its
SHA-256 is recorded. A rerun trusts ``done`` only if the source's files are
unchanged (size and modification time), the extraction options are the same
and every output still has the recorded hash; anything else is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from typing import Any

FILENAME = "manifest.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY,       -- absolute path of the source (first segment, file or folder)
    name TEXT UNIQUE NOT NULL,   -- its output folder under sources/
    kind TEXT,                   -- EWF, RAW, VHD/VHDX, VMDK, QCOW, directory
    status TEXT NOT NULL,        -- pending, running, done, failed
    error TEXT,                  -- why it failed (one line)
    files TEXT,                  -- JSON: the files the source is made of
    fingerprint TEXT,            -- JSON: [file, size, mtime_ns] of each
    source_hashes TEXT,          -- JSON: {file: {md5, sha256, size}}
    options_digest TEXT,         -- the extraction options its outputs were made with
    volumes TEXT,                -- JSON: volume labels
    parts INTEGER,               -- how many extraction tasks it was split into
    hostname TEXT,
    events INTEGER,              -- events written (first format)
    event_data INTEGER,
    files_collected INTEGER,
    warnings INTEGER,
    outputs TEXT,                -- JSON: {relative path: sha256}
    started REAL,
    finished REAL,
    seconds REAL,                -- wall time of its last attempt
    cpu_seconds REAL,            -- summed over its tasks
    peak_rss_mib REAL,           -- largest task
    attempts INTEGER DEFAULT 0,  -- attempts started
    completions INTEGER DEFAULT 0  -- times it reached done
);
CREATE TABLE IF NOT EXISTS tasks (
    path TEXT, kind TEXT, part INTEGER, volumes TEXT, status TEXT, error TEXT,
    seconds REAL, cpu_seconds REAL, peak_rss_mib REAL, finished REAL, host TEXT,
    PRIMARY KEY (path, kind, part)
);
CREATE TABLE IF NOT EXISTS merged (
    format TEXT PRIMARY KEY, path TEXT, sha256 TEXT, events INTEGER, sources TEXT, finished REAL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, command_line TEXT, started REAL, finished REAL, status TEXT
);
"""


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _row(cursor: sqlite3.Cursor, row: tuple) -> sqlite3.Row:
    """A row, a path stored as bytes (below) read back as the name it was."""
    return sqlite3.Row(cursor, tuple(os.fsdecode(value) if isinstance(value, bytes) else value for value in row))


def _parameter(value: Any) -> Any:
    """A path whose bytes are not UTF-8 (held as surrogates by Python) as its bytes: SQLite
    text must be UTF-8. Every other value is stored as it is."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(value)
    return value


class _Connection:
    """The manifest's SQLite connection; paths that are not UTF-8 go in and come out whole."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        connection.row_factory = _row

    def execute(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, tuple(_parameter(value) for value in parameters))

    def executescript(self, script: str) -> sqlite3.Cursor:
        return self._connection.executescript(script)

    def close(self) -> None:
        self._connection.close()


class Manifest:
    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.path = os.path.join(out_dir, FILENAME)
        self.db = _Connection(sqlite3.connect(self.path, isolation_level=None, timeout=30))
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- sources -------------------------------------------------------------------

    def source(self, path: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM sources WHERE path = ?", (path,)).fetchone()
        return dict(row) if row else None

    def sources(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.db.execute("SELECT * FROM sources ORDER BY name")]

    def names(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT name FROM sources")}

    def add_source(self, path: str, name: str, kind: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO sources (path, name, kind, status) VALUES (?, ?, ?, 'pending')",
            (path, name, kind),
        )

    def update(self, path: str, **values: Any) -> None:
        values = {k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v for k, v in values.items()}
        columns = ", ".join(f"{name} = ?" for name in values)
        self.db.execute(f"UPDATE sources SET {columns} WHERE path = ?", (*values.values(), path))

    def start(self, path: str) -> None:
        self.db.execute(
            "UPDATE sources SET status = 'running', error = NULL, started = ?, finished = NULL, "
            "attempts = attempts + 1 WHERE path = ?",
            (time.time(), path),
        )
        self.db.execute("DELETE FROM tasks WHERE path = ?", (path,))

    def done(self, path: str, **values: Any) -> None:
        """One transaction: the outputs and their hashes, then status done."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.update(path, **values)
            self.db.execute(
                "UPDATE sources SET status = 'done', error = NULL, finished = ?, "
                "completions = completions + 1 WHERE path = ?",
                (time.time(), path),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def fail(self, path: str, error: str, **values: Any) -> None:
        self.update(path, status="failed", error=error, finished=time.time(), **values)

    def reset_running(self) -> None:
        """Sources left running by an interrupted batch go back to pending."""
        self.db.execute("UPDATE sources SET status = 'pending' WHERE status = 'running'")

    def task(self, path: str, kind: str, part: int, **values: Any) -> None:
        values = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in values.items()}
        names = ["path", "kind", "part", *values]
        self.db.execute(
            f"INSERT OR REPLACE INTO tasks ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            (path, kind, part, *values.values()),
        )

    def outputs_intact(self, row: dict[str, Any]) -> bool:
        """Every recorded output exists with its recorded SHA-256."""
        if not row.get("outputs"):
            return False
        for relative, digest in json.loads(row["outputs"]).items():
            full = os.path.join(self.out_dir, relative)
            if not os.path.isfile(full) or sha256_file(full) != digest:
                return False
        return True

    # -- merged timelines and runs ---------------------------------------------------

    def merged(self, fmt: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM merged WHERE format = ?", (fmt,)).fetchone()
        return dict(row) if row else None

    def set_merged(self, fmt: str, path: str, sha256: str, events: int, sources: list[str]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO merged (format, path, sha256, events, sources, finished) VALUES (?, ?, ?, ?, ?, ?)",
            (fmt, path, sha256, events, json.dumps(sources), time.time()),
        )

    def begin_run(self, command_line: list[str]) -> int:
        cursor = self.db.execute(
            "INSERT INTO runs (command_line, started, status) VALUES (?, ?, 'running')",
            (json.dumps(command_line), time.time()),
        )
        return cursor.lastrowid

    def end_run(self, run_id: int, status: str) -> None:
        self.db.execute("UPDATE runs SET finished = ?, status = ? WHERE id = ?", (time.time(), status, run_id))
