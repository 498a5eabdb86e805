"""Tests of the local Kafka and PostgreSQL used in development and CI."""
