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
)
