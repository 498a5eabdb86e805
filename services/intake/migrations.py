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
)
"""Read tables: clients, the numbers they hold now, every book version, every plan period."""
