"""One JSON object a line, for log collectors (LOG_FORMAT=json).

Fields: time (UTC, ISO 8601 with milliseconds), level, logger, message, then whatever the caller
passed with `extra=` (JSON-able as it is, else its str()), then exc_info / stack_info when present.
The logger `webhookhub.attempts` writes one line per HTTP attempt; its fields are documented in
docs/deploy/README.md ("Logs").
"""

import json
import logging
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
