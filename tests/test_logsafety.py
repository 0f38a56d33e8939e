"""Log messages stay on one line whatever the values they carry."""

from __future__ import annotations

import logging

import pytest

from wxstream import logsafety


@pytest.fixture
def single_line_records() -> object:
    previous = logging.getLogRecordFactory()
    logsafety.install()
    yield
    logging.setLogRecordFactory(previous)


def test_log_newline_in_argument_is_escaped(
    single_line_records: object, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "x\n[2026-12-04 20:00:00,000] [1] [INFO] FORGED"

    with caplog.at_level(logging.INFO):
        logging.getLogger("tests.logsafety").info("alert for %s", forged)

    assert caplog.records[0].getMessage() == (
        "alert for x\\n[2026-12-04 20:00:00,000] [1] [INFO] FORGED"
    )
    assert "\n" not in caplog.text.rstrip("\n")


def test_log_nul_and_delete_are_escaped(single_line_records: object) -> None:
    record = logging.getLogRecordFactory()(
        "tests", logging.INFO, __file__, 1, "id %s", ("ü\x00x\x7f",), None
    )

    assert record.getMessage() == "id ü\\x00x\\x7f"


def test_log_traceback_keeps_its_lines(
    single_line_records: object, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("tests.logsafety").exception("failed")

    assert "Traceback (most recent call last):\n" in caplog.text
