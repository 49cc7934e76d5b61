-- The worker pools' presence (migration 0014).
-- SQLite. Every query name here exists for MySQL too (a test checks).
-- Time: the database's clock, in whole seconds since the epoch.

-- name: worker_seen
-- A pool says it is alive, for :ttl seconds more.
INSERT INTO workers (name, queues, slots, seen_at, expires_at)
VALUES (:name, :queues, :slots, CAST(strftime('%s', 'now') AS INTEGER),
        CAST(strftime('%s', 'now') AS INTEGER) + :ttl)
ON CONFLICT (name) DO UPDATE SET queues = excluded.queues, slots = excluded.slots,
    seen_at = excluded.seen_at, expires_at = excluded.expires_at

-- name: worker_gone
DELETE FROM workers WHERE name = :name

-- name: workers_live
SELECT name, queues, slots, seen_at FROM workers
WHERE expires_at > CAST(strftime('%s', 'now') AS INTEGER)
ORDER BY name

-- name: workers_prune
-- The rows of pools that vanished long ago (a killed pool cannot delete its own).
DELETE FROM workers WHERE expires_at < CAST(strftime('%s', 'now') AS INTEGER) - :age
