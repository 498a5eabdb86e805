"""The inbox service's tables: its projections of intake and routing, the clients'
mailboxes, the mails and their conversations, and the attachments kept apart."""

from __future__ import annotations

from libs.platform.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "inbox_0001_directory",
        """
        CREATE TABLE {schema}.directory_clients (
            client_id uuid PRIMARY KEY,
            name text NOT NULL,
            language text NOT NULL,
            office_hours jsonb NOT NULL,
            offboarded boolean NOT NULL DEFAULT false,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.roster (
            operator_id text PRIMARY KEY,
            languages text[] NOT NULL,
            presence text NOT NULL,
            updated_at timestamptz NOT NULL
        );
        """,
    ),
    Migration(
        "inbox_0002_mail",
        """
        CREATE TABLE {schema}.mailboxes (
            client_id uuid PRIMARY KEY,
            version integer NOT NULL,
            forwarding_address text NOT NULL UNIQUE,
            client_address text NOT NULL,
            client_name text NOT NULL,
            answer_within_minutes integer NOT NULL,
            send_as text NOT NULL CHECK (send_as IN ('client', 'on_behalf')),
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.conversations (
            conversation_id uuid PRIMARY KEY,
            version integer NOT NULL,
            client_id uuid NOT NULL,
            topic text NOT NULL,
            language text NOT NULL,
            status text NOT NULL
                CHECK (status IN ('open', 'replied', 'forwarded', 'handled', 'spam')),
            due_at timestamptz NOT NULL,
            assigned_to text,
            escalated boolean NOT NULL DEFAULT false,
            mails integer NOT NULL,
            last_mail_id uuid NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.conversations (due_at) WHERE status = 'open';
        CREATE INDEX ON {schema}.conversations (client_id, status);
        CREATE TABLE {schema}.mails (
            mail_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            conversation_id uuid NOT NULL,
            message_id text NOT NULL,
            direction text NOT NULL CHECK (direction IN ('in', 'out')),
            sender text NOT NULL,
            subject text NOT NULL,
            received_at timestamptz NOT NULL,
            raw bytea,
            UNIQUE (client_id, message_id)
        );
        CREATE INDEX ON {schema}.mails (conversation_id, received_at);
        CREATE TABLE {schema}.attachments (
            sha256 text PRIMARY KEY,
            content_type text NOT NULL,
            size integer NOT NULL,
            data bytea NOT NULL
        );
        CREATE TABLE {schema}.mail_attachments (
            mail_id uuid NOT NULL,
            sha256 text NOT NULL,
            filename text NOT NULL,
            PRIMARY KEY (mail_id, sha256, filename)
        );
        """,
    ),
    Migration(
        "inbox_0003_imap",
        """
        CREATE TABLE {schema}.imap_mailboxes (
            client_id uuid PRIMARY KEY,
            host text NOT NULL,
            port integer NOT NULL,
            tls boolean NOT NULL,
            username text NOT NULL,
            folder text NOT NULL,
            secret text NOT NULL,
            uidvalidity bigint,
            last_uid bigint NOT NULL DEFAULT 0,
            next_read_at timestamptz NOT NULL,
            last_read_at timestamptz,
            last_error text NOT NULL DEFAULT '',
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.imap_mailboxes (next_read_at);
        """,
    ),
    Migration(
        "inbox_0004_follow_ups",
        """
        CREATE TABLE {schema}.announced_mails (
            call_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            noted_at timestamptz NOT NULL,
            caller_number text,
            caller_email text,
            found_mail_id uuid,
            found_at timestamptz,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.announced_mails (client_id, noted_at)
            WHERE found_mail_id IS NULL;
        CREATE INDEX ON {schema}.mails (client_id, received_at) WHERE direction = 'in';
        """,
    ),
    Migration(
        "inbox_0005_outbox",
        """
        CREATE TABLE {schema}.outgoing (
            outgoing_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            conversation_id uuid NOT NULL,
            kind text NOT NULL CHECK (kind IN ('reply', 'forward')),
            message_id text NOT NULL,
            raw bytea NOT NULL,
            mail_from text NOT NULL,
            rcpt_to text[] NOT NULL,
            state text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            lease_until timestamptz,
            sent_at timestamptz,
            last_error text,
            created_at timestamptz NOT NULL,
            UNIQUE (client_id, message_id)
        );
        CREATE INDEX ON {schema}.outgoing (next_attempt_at) WHERE state = 'queued';
        CREATE INDEX ON {schema}.outgoing (lease_until) WHERE state = 'sending';
        CREATE INDEX ON {schema}.outgoing (conversation_id, created_at);
        """,
    ),
    Migration(
        "inbox_0006_awaiting_since",
        """
        ALTER TABLE {schema}.conversations ADD COLUMN awaiting_since timestamptz;
        UPDATE {schema}.conversations SET awaiting_since = created_at WHERE status = 'open';
        """,
    ),
)
