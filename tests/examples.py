"""Keep what a receiver saw, for docs/examples/*.md (only when AUTOMATION_EXAMPLES_DIR is set)."""

import json
import os
from pathlib import Path


def save_example(name: str, received, attempt) -> None:
    directory = os.environ.get("AUTOMATION_EXAMPLES_DIR")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    record = {
        "request": {
            "method": received.method,
            "path": received.path,
            "headers": received.headers,
            "body": received.body,
        },
        "response": {
            "status": attempt.response_status,
            "headers": attempt.response_headers,
            "body": attempt.response_body,
        },
    }
    Path(directory, f"{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=2))
