"""Billing's tables: the events it keeps (with their log positions) and its read models."""

from __future__ import annotations

from libs.platform.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "billing_0001_history",
        """
        CREATE TABLE {schema}.history (
            event_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            event_type text NOT NULL,
            occurred_at timestamptz NOT NULL,
            topic text,
            partition integer,
            "offset" bigint,
            payload jsonb NOT NULL
        );
        CREATE INDEX ON {schema}.history (client_id);
        COMMENT ON TABLE {schema}.history IS
            'Every event billing folds; topic/partition/offset say where it was read '
            '(NULL for billing''s own events until they come back from Kafka)';
        CREATE TABLE {schema}.clients (
            client_id uuid PRIMARY KEY,
            name text NOT NULL,
            language text NOT NULL,
            contact_email text NOT NULL,
            registered_at timestamptz NOT NULL,
            punch_card boolean NOT NULL DEFAULT false
        );
        """,
    ),
    Migration(
        "billing_0002_documents",
        """
        CREATE TABLE {schema}.documents (
            document_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            kind text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
            purpose text NOT NULL CHECK (purpose IN ('monthly', 'top_up', 'credit_note')),
            number text NOT NULL UNIQUE,
            period text NOT NULL,
            issued_at timestamptz NOT NULL,
            total_cents bigint NOT NULL,
            original_invoice_id uuid,
            payload jsonb NOT NULL
        );
        CREATE UNIQUE INDEX documents_one_monthly_invoice
            ON {schema}.documents (client_id, period) WHERE purpose = 'monthly';
        CREATE INDEX ON {schema}.documents (client_id, issued_at);
        CREATE TABLE {schema}.counters (
            series text NOT NULL,
            year integer NOT NULL,
            last_number integer NOT NULL,
            PRIMARY KEY (series, year)
        );
        CREATE TABLE {schema}.payments (
            payment_id uuid PRIMARY KEY,
            invoice_id uuid NOT NULL,
            client_id uuid NOT NULL,
            amount_cents bigint NOT NULL,
            paid_at timestamptz NOT NULL,
            reference text NOT NULL
        );
        CREATE INDEX ON {schema}.payments (invoice_id);
        """,
    ),
    Migration(
        "billing_0003_mail",
        """
        ALTER TABLE {schema}.documents
            ADD COLUMN sent_at timestamptz,
            ADD COLUMN reminders integer NOT NULL DEFAULT 0,
            ADD COLUMN last_reminder_at timestamptz;
        CREATE TABLE {schema}.outgoing (
            outgoing_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            document_id uuid NOT NULL,
            kind text NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'reminder')),
            message_id text NOT NULL UNIQUE,
            raw bytea NOT NULL,
            mail_from text NOT NULL,
            rcpt_to text[] NOT NULL,
            state text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            lease_until timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz,
            last_error text
        );
        CREATE INDEX ON {schema}.outgoing (next_attempt_at) WHERE state IN ('queued', 'sending');
        COMMENT ON TABLE {schema}.outgoing IS
            'Invoice, credit-note and reminder mail, recorded with its event and sent after; '
            'raw holds the exact bytes, Message-ID included, so a resend is the same mail';
        """,
    ),
    Migration(
        "billing_0004_billing_details",
        """
        ALTER TABLE {schema}.clients ADD COLUMN billing_details jsonb;
        ALTER TABLE {schema}.clients ADD COLUMN billing_details_at timestamptz;
        COMMENT ON COLUMN {schema}.clients.billing_details
            IS 'The addressee of the invoices (legal name, address, VAT and KvK numbers)';
        """,
    ),
)
