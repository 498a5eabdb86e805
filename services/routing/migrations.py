"""The routing service's tables: its projection of intake, the roster, routes and escalations.

An escalation is about an urgent call (call_id) or an overdue mail conversation
(conversation_id), exactly one of the two.

The operators' feed (`feed_items`) numbers its items in commit order: `seq` is given by a
deferred trigger at commit, under a per-schema advisory lock that is the last lock the
transaction takes, so a reader that has seen seq n can never later find a committed item below
n (a sequence drawn at insert would let a later insert commit first). The same trigger wakes the
open feeds with pg_notify, delivered at commit.

Items are kept for a while only (FRONTDESK_ROUTING_FEED_RETENTION_HOURS): pruning removes the
oldest items in seq order and records the highest seq it removed in `feed_pruned` (one row) in
the same transaction, so a resume id below it is known to have lost items.
"""

from __future__ import annotations

from libs.platform.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "routing_0001_directory",
        """
        CREATE TABLE {schema}.directory_clients (
            client_id uuid PRIMARY KEY,
            name text NOT NULL,
            language text NOT NULL,
            office_hours jsonb NOT NULL,
            offboarded boolean NOT NULL DEFAULT false,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.directory_books (
            client_id uuid NOT NULL,
            book_version integer NOT NULL,
            urgency_rules jsonb NOT NULL,
            escalation_contacts jsonb NOT NULL,
            revised_at timestamptz NOT NULL,
            PRIMARY KEY (client_id, book_version)
        );
        """,
    ),
    Migration(
        "routing_0002_roster_and_routes",
        """
        CREATE TABLE {schema}.operators (
            operator_id text PRIMARY KEY,
            name text NOT NULL,
            languages text[] NOT NULL CHECK (cardinality(languages) > 0),
            presence text NOT NULL CHECK (presence IN ('available', 'busy', 'offline')),
            presence_since timestamptz NOT NULL,
            current_call_id uuid,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.operators (current_call_id);
        CREATE TABLE {schema}.call_routes (
            call_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            destination text NOT NULL,
            reason text NOT NULL,
            operator_id text,
            language text NOT NULL,
            office_open boolean NOT NULL,
            received_at timestamptz NOT NULL,
            routed_at timestamptz NOT NULL,
            event_id uuid NOT NULL
        );
        """,
    ),
    Migration(
        "routing_0003_escalations",
        """
        CREATE TABLE {schema}.escalations (
            escalation_id uuid PRIMARY KEY,
            call_id uuid NOT NULL,
            client_id uuid NOT NULL,
            urgency_kind text NOT NULL,
            book_version integer,
            chain_book_version integer,
            state text NOT NULL
                CHECK (state IN ('requested', 'dispatched', 'acknowledged', 'exhausted')),
            attempts integer NOT NULL DEFAULT 0,
            due_at timestamptz,
            book_wait_until timestamptz NOT NULL,
            request jsonb NOT NULL,
            requested_at timestamptz NOT NULL,
            acknowledged_by text,
            closed_at timestamptz,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.escalations (due_at)
            WHERE state IN ('requested', 'dispatched');
        CREATE INDEX ON {schema}.escalations (call_id);
        """,
    ),
    Migration(
        "routing_0004_mail_escalations",
        """
        ALTER TABLE {schema}.escalations ALTER COLUMN call_id DROP NOT NULL;
        ALTER TABLE {schema}.escalations ADD COLUMN conversation_id uuid;
        ALTER TABLE {schema}.escalations ADD CONSTRAINT escalations_one_subject
            CHECK ((call_id IS NULL) <> (conversation_id IS NULL));
        CREATE INDEX ON {schema}.escalations (conversation_id)
            WHERE conversation_id IS NOT NULL;
        """,
    ),
    Migration(
        "routing_0005_operator_feed",
        """
        CREATE SEQUENCE {schema}.feed_seq;
        CREATE TABLE {schema}.feed_items (
            item_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            seq bigint UNIQUE,
            event_id uuid NOT NULL UNIQUE,
            kind text NOT NULL
                CHECK (kind IN ('call', 'callback', 'conversation', 'escalation')),
            operator_id text,
            language text,
            client_id uuid NOT NULL,
            data jsonb NOT NULL,
            occurred_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.feed_items (operator_id, seq) WHERE operator_id IS NOT NULL;
        CREATE INDEX ON {schema}.feed_items (seq) WHERE operator_id IS NULL;
        COMMENT ON COLUMN {schema}.feed_items.operator_id
            IS 'The one operator it is for; NULL: operators of `language`, or everyone';
        CREATE FUNCTION {schema}.feed_number() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            numbered bigint;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext(TG_TABLE_SCHEMA || '.feed_items'));
            UPDATE {schema}.feed_items SET seq = nextval('{schema}.feed_seq')
                WHERE item_id = NEW.item_id RETURNING seq INTO numbered;
            PERFORM pg_notify(TG_TABLE_SCHEMA || '_feed', numbered::text);
            RETURN NULL;
        END;
        $$;
        CREATE CONSTRAINT TRIGGER feed_number AFTER INSERT ON {schema}.feed_items
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {schema}.feed_number();
        CREATE TABLE {schema}.feed_callbacks (
            callback_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            language text,
            due_at timestamptz,
            operator_id text
        );
        CREATE TABLE {schema}.feed_conversations (
            conversation_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            language text,
            due_at timestamptz,
            operator_id text
        );
        """,
    ),
    Migration(
        "routing_0006_feed_retention",
        """
        CREATE TABLE {schema}.feed_pruned (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            through_seq bigint NOT NULL DEFAULT 0,
            pruned_at timestamptz
        );
        COMMENT ON TABLE {schema}.feed_pruned
            IS 'The highest seq removed from feed_items: every item up to it is gone';
        INSERT INTO {schema}.feed_pruned DEFAULT VALUES;
        """,
    ),
)
