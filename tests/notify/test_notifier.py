"""The escalation message carries routing's signed acknowledgement link when it has one."""

from __future__ import annotations

from services.notify.notifier import bootstrap
from services.notify.settings import NotifySettings
from tests.notify.test_domain import dispatched

SIGNED = "https://routing.frontdesk.example/escalations/e/ack?token=1.abc"


def test_the_signed_link_in_the_event_wins_over_the_configured_template() -> None:
    notifier = bootstrap(NotifySettings(ack_url_template="https://ops.example/ack/{escalation_id}"))
    plain = dispatched("sms", "+31611111111")
    signed = plain.model_copy(update={"ack_url": SIGNED})
    assert notifier.ack_url(signed) == SIGNED
    assert notifier.ack_url(plain) == f"https://ops.example/ack/{plain.escalation_id}"


def test_without_a_link_or_a_template_the_message_has_no_link() -> None:
    notifier = bootstrap(NotifySettings(ack_url_template=None))
    assert notifier.ack_url(dispatched("email", "jan@bakker.example")) is None
