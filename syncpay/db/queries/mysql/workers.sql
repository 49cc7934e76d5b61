-- The worker pools' presence (migration 0014).
-- MySQL / MariaDB. Every query name here exists for SQLite too (a test checks).
-- Time: the database server's clock, in whole seconds since the epoch, so pools on
-- several machines agree whatever their own clocks say.

-- name: worker_seen
-- A pool says it is alive, for :ttl seconds more.
INSERT INTO workers (name, queues, slots, seen_at, expires_at)
VALUES (:name, :queues, :slots, UNIX_TIMESTAMP(), UNIX_TIMESTAMP() + :ttl)
ON DUPLICATE KEY UPDATE queues = VALUES(queues), slots = VALUES(slots),
    seen_at = VALUES(seen_at), expires_at = VALUES(expires_at)

-- name: worker_gone
DELETE FROM workers WHERE name = :name

-- name: workers_live
SELECT name, queues, slots, seen_at FROM workers
WHERE expires_at > UNIX_TIMESTAMP()
ORDER BY name

-- name: workers_prune
-- The rows of pools that vanished long ago (a killed pool cannot delete its own).
DELETE FROM workers WHERE expires_at < UNIX_TIMESTAMP() - :age
