"""One log record, one line: control characters in log messages are escaped.

Log messages often carry values from requests (ids, addresses, event types). A newline
in such a value could forge a log line, and a NUL byte can break log tools. Installing
:class:`SingleLineLogRecord` as the record factory escapes them in every message of the
process, whatever handler or formatter faust, uvicorn or wxstream configure. Tracebacks
are formatted separately and keep their lines.
"""

from __future__ import annotations

import logging

_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def escape_controls(text: str) -> str:
    """Replace ASCII control characters with backslash escapes."""
    return text.translate(_ESCAPES)


class SingleLineLogRecord(logging.LogRecord):
    """A log record whose message has its control characters escaped."""

    def getMessage(self) -> str:
        return escape_controls(super().getMessage())


def install() -> None:
    logging.setLogRecordFactory(SingleLineLogRecord)
