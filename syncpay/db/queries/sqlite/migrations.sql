-- Schema bookkeeping and health.
-- SQLite. Every query name here exists for MySQL too (a test checks).
-- Time: the database's clock, in whole seconds since the epoch (Laravel's columns).

-- name: ping
SELECT 1 AS ok

-- name: migrations_applied
SELECT migration FROM migrations ORDER BY id

-- name: migrations_record
INSERT INTO migrations (migration, batch) VALUES (:migration, :batch)

-- name: migrations_last_batch
SELECT COALESCE(MAX(batch), 0) AS batch FROM migrations
