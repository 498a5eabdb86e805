"""The calendar service's tables: its projections of intake, routing and calls, the linked
calendars with their sealed credentials, appointments and the callback list.

Each link, appointment and callback has an event stream; its row here is written in the
transaction that appends to the stream, with the stream's version, so a command locks the
row, decides, appends at that version and updates the row, all or nothing.
"""

from __future__ import annotations

from libs.platform.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "calendar_0001_directory",
        """
        CREATE TABLE {schema}.directory_clients (
            client_id uuid PRIMARY KEY,
            name text NOT NULL,
            language text NOT NULL,
            office_hours jsonb NOT NULL,
            after_hours text NOT NULL DEFAULT 'email_summary',
            book_version integer NOT NULL DEFAULT 0,
            offboarded boolean NOT NULL DEFAULT false,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.roster (
            operator_id text PRIMARY KEY,
            languages text[] NOT NULL,
            presence text NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.call_facts (
            call_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            caller_number text,
            caller_language text,
            office_open boolean NOT NULL,
            received_at timestamptz NOT NULL
        );
        """,
    ),
    Migration(
        "calendar_0002_links",
        """
        CREATE TABLE {schema}.links (
            client_id uuid PRIMARY KEY,
            version integer NOT NULL,
            linked boolean NOT NULL,
            provider text NOT NULL CHECK (provider IN ('google', 'caldav')),
            calendar text NOT NULL,
            account text NOT NULL,
            permission text NOT NULL CHECK (permission IN ('read', 'write')),
            show_titles boolean NOT NULL,
            callback_block jsonb,
            secret text,
            linked_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            next_read_at timestamptz NOT NULL,
            last_read_at timestamptz,
            last_read_ok boolean,
            last_error text NOT NULL DEFAULT '',
            observed_digest text NOT NULL DEFAULT '',
            observed_at timestamptz,
            observed jsonb,
            unreachable_since timestamptz,
            block_dirty boolean NOT NULL DEFAULT true,
            block_changes integer NOT NULL DEFAULT 0,
            block_until timestamptz
        );
        CREATE INDEX ON {schema}.links (next_read_at) WHERE linked;
        CREATE INDEX ON {schema}.links (client_id) WHERE linked AND block_dirty;
        """,
    ),
    Migration(
        "calendar_0003_appointments_and_callbacks",
        """
        CREATE TABLE {schema}.appointments (
            appointment_id uuid PRIMARY KEY,
            version integer NOT NULL,
            client_id uuid NOT NULL,
            call_id uuid NOT NULL,
            status text NOT NULL CHECK (status IN ('booked', 'cancelled', 'proposed')),
            uid text NOT NULL,
            starts_at timestamptz,
            ends_at timestamptz,
            title text NOT NULL,
            location text NOT NULL DEFAULT '',
            attendee jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            times jsonb NOT NULL DEFAULT '[]'::jsonb,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.appointments (call_id);
        CREATE TABLE {schema}.callbacks (
            callback_id uuid PRIMARY KEY,
            version integer NOT NULL,
            client_id uuid NOT NULL,
            call_id uuid NOT NULL UNIQUE,
            source text NOT NULL CHECK (source IN ('note', 'voicemail')),
            language text NOT NULL,
            caller_number text NOT NULL,
            caller_name text NOT NULL DEFAULT '',
            detail text NOT NULL DEFAULT '',
            due_at timestamptz NOT NULL,
            status text NOT NULL CHECK (status IN ('open', 'done', 'failed')),
            assigned_to text,
            reason text NOT NULL DEFAULT '',
            comment text NOT NULL DEFAULT '',
            escalated boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            finished_at timestamptz
        );
        CREATE INDEX ON {schema}.callbacks (due_at) WHERE status = 'open';
        CREATE INDEX ON {schema}.callbacks (client_id, status);
        CREATE INDEX ON {schema}.callbacks (assigned_to) WHERE status = 'open';
        """,
    ),
)
