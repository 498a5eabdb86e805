"""What notify's reactions, commands, workers and API share: settings, templates and transports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from libs.events.routing import EscalationDispatched
from libs.platform.runtime import ServiceRuntime
from libs.platform.store import EventStore
from services.notify.adapters.chat import ChatTransport
from services.notify.adapters.sms import SmsTransport
from services.notify.adapters.smtp import SmtpTransport
from services.notify.compose import Composer
from services.notify.delivery import Transport
from services.notify.domain.model import Channel
from services.notify.settings import NotifySettings, ack_url


@dataclass(frozen=True)
class Notifier:
    """The notify service's adapters, wired once by the composition root."""

    settings: NotifySettings
    composer: Composer
    transports: Mapping[Channel, Transport]

    def message_id(self, notification_id: UUID) -> str:
        """The Message-ID of a notification: the same on every attempt."""
        return f"<{notification_id}@{self.settings.message_id_domain}>"

    def ack_url(self, dispatch: EscalationDispatched) -> str | None:
        """The signed link routing put in the event, else one from the configured template."""
        if dispatch.ack_url is not None:
            return dispatch.ack_url
        template = self.settings.ack_url_template
        if template is None:
            return None
        return ack_url(
            template,
            escalation_id=dispatch.escalation_id,
            attempt=dispatch.attempt,
            contact_index=dispatch.contact_index,
            call_id=dispatch.call_id or "",
            conversation_id=dispatch.conversation_id or "",
        )


def bootstrap(
    settings: NotifySettings, transports: Mapping[Channel, Transport] | None = None
) -> Notifier:
    """Real adapters by default; tests may pass others."""
    real: dict[Channel, Transport] = {
        "email": SmtpTransport(settings),
        "sms": SmsTransport(settings),
        "chat": ChatTransport(settings),
    }
    return Notifier(settings, Composer(settings.brand), {**real, **(transports or {})})


def store_of(rt: ServiceRuntime) -> EventStore:
    """The service's event store (its pool and schema); 503 while the service is starting."""
    return rt.require_store()
