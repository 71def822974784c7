"""One JSON object a line, for log collectors (LOG_FORMAT=json).

Fields: time (UTC, ISO 8601 with milliseconds), level, logger, message, then whatever the caller
passed with `extra=` (JSON-able as it is, else its str()), then exc_info / stack_info when present.
The logger `webhookhub.attempts` writes one line per HTTP attempt; its fields are documented in
docs/deploy/README.md ("Logs").
"""

import io
import json
import logging
import sys
from datetime import UTC, datetime

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = _plain(value)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        # ensure_ascii off: zh-hans messages stay readable; one line, whatever the message holds.
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def _is_json_lines(text: str) -> bool:
    try:
        return all(isinstance(json.loads(line), dict) for line in text.splitlines() if line.strip())
    except ValueError:
        return False


class JsonStderr(io.TextIOBase):
    """sys.stderr for LOG_FORMAT=json: JSON lines pass through; any other text, kept until the writer
    flushes (a traceback is written in pieces, then flushed), goes out as one JSON object."""

    def __init__(self, stream):
        self._stream = stream
        self._pending: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending.append(text)
        if text.endswith("\n") and _is_json_lines("".join(self._pending)):
            self.flush()
        return len(text)

    def flush(self) -> None:
        text, self._pending = "".join(self._pending), []
        if text.strip() and not _is_json_lines(text):
            lines = text.strip().splitlines()
            entry = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": "ERROR" if "Traceback" in text or "Error" in lines[-1] else "WARNING",
                "logger": "stderr",
                "message": lines[-1] if "Traceback" in text else lines[0],
                "text": text.rstrip("\n"),
            }
            text = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        if text:
            self._stream.write(text)
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return False


def stderr_json_install() -> None:
    """LOG_FORMAT=json: this process's stray stderr text becomes JSON (once; child processes inherit it)."""
    if not isinstance(sys.stderr, JsonStderr):
        sys.stderr = JsonStderr(sys.stderr)
