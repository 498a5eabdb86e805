"""The inbox HTTP API: the client's mailbox, and the conversations operators answer.

Thin on purpose: request model -> command -> response; refusals are mapped to HTTP statuses
in one place (libs.platform.problems). A reply or forward is recorded and queued in one
transaction and answered at once; the outbox worker hands it to the relay after the commit.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response

from libs.errors import NotFound
from libs.events.values import Language
from libs.platform.auth import Anyone, Desk, StaffOrClient
from libs.platform.http import Box, Runtime, Store, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import refusals
from services.inbox import conversations, imap, mailboxes, sending
from services.inbox.schemas import (
    AnsweredRead,
    AssignCreate,
    ConversationDetail,
    ConversationRead,
    ForwardCreate,
    HandledCreate,
    ImapPut,
    ImapRead,
    MailboxPut,
    MailboxRead,
    MailContent,
    MailRead,
    ReplyCreate,
)
from services.inbox.settings import InboxSettings

router = APIRouter(tags=["inbox"], route_class=IdempotentRoute)
ERRORS = refusals(
    not_found="No such client, mailbox, conversation or operator",
    conflict="Not possible in the current state (handled or spam already)",
    rejected="Invalid request",
    forbidden="Not the caller's to do",
)
Config = Annotated[InboxSettings, Depends(service_settings)]
Status = Literal["open", "replied", "forwarded", "handled", "spam"]
OperatorQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._@:-]{1,100}$")]


@router.put("/clients/{client_id}/mailbox", responses=ERRORS)
async def configure_mailbox(
    client_id: UUID, body: MailboxPut, rt: Runtime, store: Store, caller: StaffOrClient,
    config: Config,
) -> MailboxRead:  # fmt: skip
    """Handle the client's mail: its forwarding address (made once), answer time, sender."""
    caller.own(client_id, "client")
    row = await mailboxes.configure(
        store, client_id, domain=config.inbound_domain, client_address=str(body.client_address),
        answer_within_minutes=body.answer_within_minutes, send_as=body.send_as,
        actor=caller.actor(), at=rt.clock.now(),
    )  # fmt: skip
    return MailboxRead.model_validate(row)


@router.get("/clients/{client_id}/mailbox", responses=ERRORS)
async def get_mailbox(client_id: UUID, store: Store, caller: Anyone) -> MailboxRead:
    """The client's mailbox and its forwarding address."""
    caller.own(client_id, "client")
    row = await mailboxes.get(store.pool, store.schema, client_id)
    if row is None:
        raise NotFound(f"client {client_id} has no mailbox handled by the bureau")
    return MailboxRead.model_validate(dict(row))


@router.put("/clients/{client_id}/mailbox/imap", responses=ERRORS)
async def link_imap(
    client_id: UUID, body: ImapPut, rt: Runtime, store: Store, caller: StaffOrClient,
    config: Config, box: Box,
) -> ImapRead:  # fmt: skip
    """Read the client's own mailbox over IMAP from now on (logged in once to check it)."""
    caller.own(client_id, "client")
    row = await imap.link(
        store, box, config, client_id, host=body.host, port=body.port, tls=body.tls,
        username=body.username, password=body.password.get_secret_value(), folder=body.folder,
        actor=caller.actor(), at=rt.clock.now(),
    )  # fmt: skip
    return ImapRead.model_validate(row)


@router.get("/clients/{client_id}/mailbox/imap", responses=ERRORS)
async def get_imap(client_id: UUID, store: Store, caller: Anyone) -> ImapRead:
    """How far the client's mailbox was read, and the last error."""
    caller.own(client_id, "client")
    row = await store.pool.fetchrow(
        f"SELECT * FROM {store.schema}.imap_mailboxes WHERE client_id = $1", client_id
    )
    if row is None:
        raise NotFound(f"client {client_id} has no mailbox read over IMAP")
    return ImapRead.model_validate(imap.view(dict(row)))


@router.delete("/clients/{client_id}/mailbox/imap", status_code=204, responses=ERRORS)
async def unlink_imap(client_id: UUID, store: Store, caller: StaffOrClient) -> None:
    """Stop reading the client's mailbox; its sealed login is destroyed."""
    caller.own(client_id, "client")
    gone = await store.pool.fetchval(
        f"DELETE FROM {store.schema}.imap_mailboxes WHERE client_id = $1 RETURNING client_id",
        client_id,
    )
    if gone is None:
        raise NotFound(f"client {client_id} has no mailbox read over IMAP")


@router.get("/conversations", responses=ERRORS)
async def list_conversations(
    store: Store, caller: Anyone, client_id: UUID | None = None, status: Status | None = None,
    assigned_to: OperatorQuery = None, language: Language | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ConversationRead]:  # fmt: skip
    """The conversations, escalated and due first (a client sees its own only)."""
    rows = await conversations.listing(
        store.pool, store.schema, client_id=caller.scope(client_id), status=status,
        assigned_to=assigned_to, language=language, limit=limit,
    )  # fmt: skip
    return [ConversationRead.model_validate(row) for row in rows]


@router.get("/conversations/{conversation_id}", responses=ERRORS)
async def get_conversation(
    conversation_id: UUID, store: Store, caller: Anyone
) -> ConversationDetail:
    """One conversation with its mails in and out, and the state of each answer sent."""
    row = await conversations.get(store.pool, store.schema, conversation_id, caller.tenant)
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    thread = await conversations.mails_of(store.pool, store.schema, conversation_id)
    outgoing = await sending.outgoing_of(store.pool, store.schema, conversation_id)
    return ConversationDetail.model_validate(
        {**row, "thread": [MailRead.model_validate(m) for m in thread], "outgoing_mails": outgoing}
    )


@router.get("/mails/{mail_id}", responses=ERRORS)
async def get_mail(mail_id: UUID, store: Store, caller: Anyone) -> MailContent:
    """One mail with its text, its cleaned HTML, its attachments and those left out."""
    found = await conversations.mail_content(store.pool, store.schema, mail_id, caller.tenant)
    if found is None:
        raise NotFound(f"no mail {mail_id}")
    return MailContent.model_validate(found)


@router.get(
    "/mails/{mail_id}/attachments/{sha256}",
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    response_class=Response,
)
async def get_attachment(
    mail_id: UUID, sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")], store: Store,
    caller: Anyone,
) -> Response:  # fmt: skip
    """An attachment's bytes, always as a download (never shown inline by a browser)."""
    found = await conversations.attachment(store.pool, store.schema, mail_id, sha256, caller.tenant)
    if found is None:
        raise NotFound(f"no attachment {sha256} of mail {mail_id}")
    name = quote(found["filename"], safe="")
    return Response(
        bytes(found["data"]), media_type="application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}",
                 "X-Content-Type-Options": "nosniff", "X-Original-Content-Type":
                 found["content_type"].encode("ascii", "replace").decode()[:200]},
    )  # fmt: skip


@router.post("/conversations/{conversation_id}/reply", dependencies=[Idempotent], responses=ERRORS)
async def reply(
    conversation_id: UUID, body: ReplyCreate, rt: Runtime, store: Store, caller: Desk,
    config: Config,
) -> AnsweredRead:  # fmt: skip
    """Answer the last mail's sender, threaded, from the client or on its behalf: recorded
    and queued at once, sent by the outbox right after (`outgoing` says how far it is)."""
    row = await sending.answer(
        store, config, conversation_id, "reply", caller=caller, at=rt.clock.now(),
        text=body.text,
    )  # fmt: skip
    return AnsweredRead.model_validate(row)


@router.post(
    "/conversations/{conversation_id}/forward", dependencies=[Idempotent], responses=ERRORS
)
async def forward(
    conversation_id: UUID, body: ForwardCreate, rt: Runtime, store: Store, caller: Desk,
    config: Config,
) -> AnsweredRead:  # fmt: skip
    """Forward the last mail to the client's own address, with a note: recorded and queued
    at once, sent by the outbox right after (`outgoing` says how far it is)."""
    row = await sending.answer(
        store, config, conversation_id, "forward", caller=caller, at=rt.clock.now(),
        text=body.note,
    )  # fmt: skip
    return AnsweredRead.model_validate(row)


@router.post("/conversations/{conversation_id}/handled", responses=ERRORS)
async def handled(
    conversation_id: UUID, body: HandledCreate, rt: Runtime, store: Store, caller: Desk
) -> ConversationRead:
    """Nothing more to do for the conversation."""
    row = await conversations.finish(
        store, conversation_id, "handled", caller=caller, at=rt.clock.now(), comment=body.comment
    )
    return ConversationRead.model_validate(row)


@router.post("/conversations/{conversation_id}/spam", responses=ERRORS)
async def spam(conversation_id: UUID, rt: Runtime, store: Store, caller: Desk) -> ConversationRead:
    """The conversation is spam: no answer, no escalation."""
    row = await conversations.finish(
        store, conversation_id, "spam", caller=caller, at=rt.clock.now()
    )
    return ConversationRead.model_validate(row)


@router.post("/conversations/{conversation_id}/assign", responses=ERRORS)
async def assign(
    conversation_id: UUID, body: AssignCreate, rt: Runtime, store: Store, caller: Desk
) -> ConversationRead:
    """Take the conversation (an operator, for themself) or give it (staff)."""
    row = await conversations.assign(
        store, conversation_id, body.operator_id, caller=caller, at=rt.clock.now()
    )
    return ConversationRead.model_validate(row)
