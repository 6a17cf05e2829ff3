"""Log output: uvicorn's text lines, or one JSON object per line (INCIDENTGRAPH_LOG_FORMAT).

In JSON every record carries `time` (UTC, ISO 8601), `level`, `logger` and `message`, the
fields a call passed in `extra`, and `exception` with the traceback when there is one. The
request log (app/web/middleware/request_log.py) writes one record per HTTP request; uvicorn's
access lines, which would repeat it without the tenant or operation, are then left out.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# Attributes every LogRecord has: anything else on a record came from `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# uvicorn's own copy of a message with terminal colours.
_LEFT_OUT = _STANDARD | {"color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _LEFT_OUT and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def use_json() -> None:
    """Every record through one JSON handler on stderr, at the level `serve --log-level`
    gave uvicorn (INFO by default); uvicorn's access lines off."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.getLogger("uvicorn.error").getEffectiveLevel())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
