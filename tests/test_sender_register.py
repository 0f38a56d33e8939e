"""The sender refuses to start without a Webex token instead of dead-lettering every message."""

from __future__ import annotations

import faust
import pytest

from processors import sender
from processors.context import WorkerContext
from schemas.topics import TopicCatalog
from wxstream.settings import SettingsError, load_settings


def test_sender_register_without_token_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WXSTREAM_WEBEX_TOKEN", raising=False)
    settings = load_settings(webex_token=None)
    app = faust.App(
        "sender-register-test", broker="memory://", store="memory://", autodiscover=False
    )
    context = WorkerContext(app, settings, TopicCatalog(prefix="test.", partitions=3))

    with pytest.raises(SettingsError, match="WXSTREAM_WEBEX_TOKEN is not set"):
        sender.register(context)
