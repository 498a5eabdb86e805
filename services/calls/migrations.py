"""The calls service's tables: its projections of intake and calendar, and the read model."""

from __future__ import annotations

from libs.platform.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "calls_0001_directory",
        """
        CREATE TABLE {schema}.directory_clients (
            client_id uuid PRIMARY KEY,
            name text NOT NULL,
            language text NOT NULL,
            cold_calls_free boolean NOT NULL,
            status text NOT NULL,
            office_hours jsonb NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.directory_numbers (
            number text PRIMARY KEY,
            client_id uuid NOT NULL,
            assigned_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.directory_numbers (client_id);
        CREATE TABLE {schema}.directory_books (
            client_id uuid NOT NULL,
            book_version integer NOT NULL,
            greeting text NOT NULL,
            instructions text NOT NULL,
            faq jsonb NOT NULL,
            urgency_rules jsonb NOT NULL,
            temporary_instructions jsonb NOT NULL,
            after_hours text NOT NULL,
            calendar_url text,
            revised_at timestamptz NOT NULL,
            PRIMARY KEY (client_id, book_version)
        );
        """,
    ),
    Migration(
        "calls_0002_read_model",
        """
        CREATE TABLE {schema}.calls (
            call_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            dialled_number text NOT NULL,
            caller_number text,
            received_at timestamptz NOT NULL,
            book_version integer,
            office_open boolean NOT NULL,
            stage text NOT NULL,
            operator_id text,
            language text,
            answered_at timestamptz,
            transferred_to text,
            voicemail jsonb,
            note jsonb,
            notes_count integer NOT NULL DEFAULT 0,
            escalations jsonb NOT NULL DEFAULT '[]',
            non_billable jsonb,
            ended_at timestamptz,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.calls (client_id, received_at);
        CREATE INDEX ON {schema}.calls (received_at);
        CREATE TABLE {schema}.call_history (
            call_id uuid NOT NULL,
            stream_version integer NOT NULL,
            event_id uuid NOT NULL UNIQUE,
            event_type text NOT NULL,
            occurred_at timestamptz NOT NULL,
            event jsonb NOT NULL,
            PRIMARY KEY (call_id, stream_version)
        );
        """,
    ),
    Migration(
        "calls_0003_number_history",
        """
        CREATE TABLE {schema}.directory_number_assignments (
            number text NOT NULL,
            client_id uuid NOT NULL,
            assigned_at timestamptz NOT NULL,
            released_at timestamptz,
            PRIMARY KEY (number, assigned_at, client_id)
        );
        INSERT INTO {schema}.directory_number_assignments (number, client_id, assigned_at)
        SELECT number, client_id, assigned_at FROM {schema}.directory_numbers;
        """,
    ),
    Migration(
        "calls_0004_client_calendars",
        """
        CREATE TABLE {schema}.client_calendars (
            client_id uuid PRIMARY KEY,
            linked boolean NOT NULL,
            provider text,
            permission text,
            show_titles boolean NOT NULL DEFAULT false,
            linked_at timestamptz,
            read_at timestamptz,
            window_start timestamptz,
            window_end timestamptz,
            busy jsonb NOT NULL DEFAULT '[]',
            unreachable_since timestamptz,
            changed_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            CHECK (NOT linked OR (provider IS NOT NULL AND permission IS NOT NULL
                                  AND linked_at IS NOT NULL)),
            CHECK ((read_at IS NULL) = (window_start IS NULL)
                   AND (read_at IS NULL) = (window_end IS NULL)),
            CHECK (window_end > window_start)
        );
        """,
    ),
    Migration(
        "calls_0005_announced_mails",
        """
        CREATE TABLE {schema}.announced_mails (
            call_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            conversation_id uuid NOT NULL,
            mail_id uuid NOT NULL,
            message_id text NOT NULL,
            sender text NOT NULL,
            subject text NOT NULL,
            received_at timestamptz NOT NULL,
            matched_by text NOT NULL,
            found_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.announced_mails (client_id, found_at);
        """,
    ),
)
