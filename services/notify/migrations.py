"""The notify service's tables: projections of intake, calls, calendar and inbox; the outgoing
queue."""

from __future__ import annotations

from libs.platform.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "notify_0001_projections",
        """
        CREATE TABLE {schema}.clients (
            client_id uuid PRIMARY KEY,
            name text NOT NULL,
            language text NOT NULL,
            mode text NOT NULL,
            recipients text[] NOT NULL,
            digest_time time NOT NULL,
            office_hours jsonb NOT NULL,
            active boolean NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.calls (
            call_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            received_at timestamptz NOT NULL,
            office_open boolean NOT NULL,
            caller_number text,
            correlation_id uuid,
            note jsonb,
            voicemail jsonb,
            messages integer NOT NULL,
            deliver_after timestamptz
        );
        CREATE INDEX ON {schema}.calls (client_id, received_at);
        CREATE INDEX ON {schema}.calls (deliver_after) WHERE deliver_after IS NOT NULL;
        CREATE TABLE {schema}.escalations (
            escalation_id uuid PRIMARY KEY,
            call_id uuid NOT NULL,
            urgency_kind text NOT NULL,
            reason text NOT NULL
        );
        """,
    ),
    Migration(
        "notify_0002_outgoing",
        """
        CREATE TABLE {schema}.outgoing (
            notification_id uuid PRIMARY KEY,
            dedupe_key text NOT NULL UNIQUE,
            client_id uuid NOT NULL,
            channel text NOT NULL CHECK (channel IN ('email', 'sms', 'chat')),
            kind text NOT NULL,
            recipients text[] NOT NULL,
            language text NOT NULL,
            subject text NOT NULL,
            body_text text NOT NULL,
            body_html text,
            call_ids uuid[] NOT NULL,
            message_id text NOT NULL,
            state text NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            lease_until timestamptz,
            reference_at timestamptz,
            correlation_id uuid,
            created_at timestamptz NOT NULL,
            sent_at timestamptz,
            error text,
            permanent boolean
        );
        CREATE INDEX outgoing_due ON {schema}.outgoing (next_attempt_at)
            WHERE state IN ('pending', 'sending');
        CREATE INDEX ON {schema}.outgoing (client_id, created_at);
        CREATE TABLE {schema}.outgoing_calls (
            notification_id uuid NOT NULL REFERENCES {schema}.outgoing,
            call_id uuid NOT NULL,
            messages integer NOT NULL,
            PRIMARY KEY (notification_id, call_id)
        );
        CREATE INDEX ON {schema}.outgoing_calls (call_id);
        CREATE TABLE {schema}.digest_runs (
            client_id uuid NOT NULL,
            day date NOT NULL,
            notification_id uuid REFERENCES {schema}.outgoing,
            calls integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (client_id, day)
        );
        """,
    ),
    Migration(
        "notify_0003_client_registered_at",
        # Rows from before take their last change: never earlier than the registration, and
        # the registration itself for a client unchanged since.
        """
        ALTER TABLE {schema}.clients ADD COLUMN registered_at timestamptz;
        UPDATE {schema}.clients SET registered_at = updated_at;
        ALTER TABLE {schema}.clients ALTER COLUMN registered_at SET NOT NULL;
        """,
    ),
    Migration(
        "notify_0004_imported_calls",
        # Calls from before were all live: staff imports came with this column.
        """
        ALTER TABLE {schema}.calls ADD COLUMN imported boolean NOT NULL DEFAULT false;
        COMMENT ON COLUMN {schema}.calls.imported
            IS 'Staff imported the call from history: its messages are never announced';
        """,
    ),
    Migration(
        "notify_0005_appointments",
        # The calendar's appointments per call, and which of their changes each notification
        # carried (like outgoing_calls: a replay rebuilds the first, never the second).
        """
        CREATE TABLE {schema}.appointments (
            appointment_id uuid PRIMARY KEY,
            call_id uuid NOT NULL,
            client_id uuid NOT NULL,
            status text NOT NULL
                CHECK (status IN ('booked', 'moved', 'cancelled', 'proposed')),
            times jsonb NOT NULL,
            title text NOT NULL,
            location text NOT NULL,
            attendee_name text NOT NULL,
            attendee_email text NOT NULL,
            attendee_phone text,
            reason text NOT NULL,
            changes integer NOT NULL,
            changed_at timestamptz NOT NULL,
            first_at timestamptz NOT NULL,
            last_event_id uuid NOT NULL
        );
        CREATE INDEX ON {schema}.appointments (call_id);
        CREATE INDEX ON {schema}.appointments (client_id, changed_at);
        CREATE TABLE {schema}.outgoing_appointments (
            notification_id uuid NOT NULL REFERENCES {schema}.outgoing,
            appointment_id uuid NOT NULL,
            changes integer NOT NULL,
            PRIMARY KEY (notification_id, appointment_id)
        );
        CREATE INDEX ON {schema}.outgoing_appointments (appointment_id);
        """,
    ),
    Migration(
        "notify_0006_conversations",
        # The inbox's conversations per client, for the digest's "mail handled today".
        """
        CREATE TABLE {schema}.conversations (
            conversation_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            topic text NOT NULL,
            sender text NOT NULL,
            sender_name text NOT NULL,
            subject text NOT NULL,
            received_at timestamptz,
            due_at timestamptz,
            action text CHECK (action IN ('replied', 'forwarded', 'handled', 'spam')),
            acted_at timestamptz
        );
        CREATE INDEX ON {schema}.conversations (client_id, acted_at);
        CREATE INDEX ON {schema}.conversations (client_id, due_at);
        """,
    ),
    Migration(
        "notify_0007_welcome",
        # What the welcome mail needs: each client's numbers and urgent matters (from intake),
        # and the bureau's forwarding codes per provider (notify's own events).
        """
        CREATE TABLE {schema}.client_numbers (
            client_id uuid NOT NULL,
            number text NOT NULL,
            assigned boolean NOT NULL,
            changed_at timestamptz NOT NULL,
            PRIMARY KEY (client_id, number)
        );
        CREATE TABLE {schema}.client_urgency (
            client_id uuid PRIMARY KEY,
            book_version integer NOT NULL,
            rules jsonb NOT NULL
        );
        CREATE TABLE {schema}.forwarding_codes (
            provider text PRIMARY KEY,
            name text NOT NULL,
            codes jsonb NOT NULL,
            note text NOT NULL,
            updated_at timestamptz NOT NULL
        );
        """,
    ),
)
