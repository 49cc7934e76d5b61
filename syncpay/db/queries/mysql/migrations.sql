-- Schema bookkeeping and health.
-- MySQL / MariaDB (10.6+). Every query name here exists for SQLite too (a test checks).
-- Time: the database server's clock, in whole seconds since the epoch, so workers on
-- several machines agree on leases whatever their own clocks say.

-- name: ping
SELECT 1 AS ok

-- name: migrations_applied
SELECT migration FROM migrations ORDER BY id

-- name: migrations_record
INSERT INTO migrations (migration, batch) VALUES (:migration, :batch)

-- name: migrations_last_batch
SELECT COALESCE(MAX(batch), 0) AS batch FROM migrations
