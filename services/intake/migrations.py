"""The intake service's read tables."""

from __future__ import annotations

from libs.platform.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "intake_0001_read_tables",
        """
        CREATE TABLE {schema}.clients (
            client_id uuid PRIMARY KEY,
            name text NOT NULL,
            contact_email text NOT NULL,
            language text NOT NULL,
            status text NOT NULL,
            cold_calls_free boolean NOT NULL,
            setup_fee_cents bigint NOT NULL,
            notification jsonb NOT NULL,
            office_hours jsonb NOT NULL,
            book_version integer,
            registered_at timestamptz NOT NULL,
            activated_at timestamptz,
            offboarded_at timestamptz,
            offboard_reason text,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.clients (status, name);
        CREATE TABLE {schema}.numbers (
            number text PRIMARY KEY,
            client_id uuid NOT NULL REFERENCES {schema}.clients,
            assigned_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.numbers (client_id);
        CREATE TABLE {schema}.book_versions (
            client_id uuid NOT NULL REFERENCES {schema}.clients,
            book_version integer NOT NULL,
            revised_at timestamptz NOT NULL,
            book jsonb NOT NULL,
            PRIMARY KEY (client_id, book_version)
        );
        CREATE TABLE {schema}.plan_periods (
            client_id uuid NOT NULL REFERENCES {schema}.clients,
            seq integer NOT NULL,
            plan jsonb NOT NULL,
            email_handling jsonb NOT NULL,
            effective_from date NOT NULL,
            recorded_at timestamptz NOT NULL,
            PRIMARY KEY (client_id, seq)
        );
        """,
    ),
    Migration(
        "intake_0002_number_pool",
        """
        CREATE TABLE {schema}.number_pool (
            number text PRIMARY KEY,
            added_at timestamptz NOT NULL,
            client_id uuid,
            reserved_at timestamptz,
            released_at timestamptz,
            quarantine_until timestamptz
        );
        CREATE INDEX ON {schema}.number_pool (added_at, number) WHERE client_id IS NULL;
        -- numbers handed out before the pool existed belong to it, held by their client
        INSERT INTO {schema}.number_pool (number, added_at, client_id, reserved_at)
        SELECT number, assigned_at, client_id, assigned_at FROM {schema}.numbers;
        """,
    ),
    Migration(
        "intake_0003_onboarding_waits",
        """
        CREATE TABLE {schema}.onboarding_waits (
            client_id uuid PRIMARY KEY REFERENCES {schema}.clients,
            form_received_at timestamptz NOT NULL,
            ended_at timestamptz
        );
        CREATE INDEX ON {schema}.onboarding_waits (form_received_at) WHERE ended_at IS NULL;
        """,
    ),
    Migration(
        "intake_0004_scheduled_offboarding",
        """
        ALTER TABLE {schema}.clients ADD COLUMN offboard_at timestamptz;
        CREATE INDEX ON {schema}.clients (offboard_at) WHERE offboard_at IS NOT NULL;
        """,
    ),
    Migration(
        "intake_0005_hand_over",
        # What billing invoiced each client and what came in against it (from billing's
        # events), for handing the secretary book over only when nothing is owed.
        """
        CREATE TABLE {schema}.billing_invoices (
            invoice_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            invoice_number text NOT NULL,
            total_cents bigint NOT NULL,
            issued_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.billing_invoices (client_id);
        CREATE TABLE {schema}.billing_payments (
            payment_id uuid PRIMARY KEY,
            invoice_id uuid NOT NULL,
            amount_cents bigint NOT NULL
        );
        CREATE INDEX ON {schema}.billing_payments (invoice_id);
        CREATE TABLE {schema}.billing_credits (
            credit_note_id uuid PRIMARY KEY,
            invoice_id uuid NOT NULL,
            amount_cents bigint NOT NULL
        );
        CREATE INDEX ON {schema}.billing_credits (invoice_id);
        """,
    ),
    Migration(
        "intake_0006_onboarding_due",
        # When each waiting form passes the target, counted in the bureau's working hours
        # (forms recorded before this: the target in wall time, as it was counted then).
        """
        ALTER TABLE {schema}.onboarding_waits ADD COLUMN due_at timestamptz;
        UPDATE {schema}.onboarding_waits SET due_at = form_received_at + interval '4.5 hours';
        ALTER TABLE {schema}.onboarding_waits ALTER COLUMN due_at SET NOT NULL;
        CREATE INDEX ON {schema}.onboarding_waits (due_at) WHERE ended_at IS NULL;
        """,
    ),
)
"""Read tables: clients, the numbers they hold now, every book version, every plan period;
the pool of numbers (a number appears once: the primary key is the last guard against giving
it to two clients), the onboarding waits, scheduled departures; and what billing invoiced and
was paid (for handing the book over)."""
