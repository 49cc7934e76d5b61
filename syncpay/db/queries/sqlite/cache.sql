-- Laravel's database cache store.
-- SQLite. Every query name here exists for MySQL too (a test checks).
-- Time: the database's clock, in whole seconds since the epoch (Laravel's columns).

-- name: cache_get
SELECT value FROM cache
WHERE "key" = :key AND (expiration = 0 OR expiration > CAST(strftime('%s', 'now') AS INTEGER))

-- name: cache_put
INSERT INTO cache ("key", value, expiration)
VALUES (:key, :value, CASE WHEN :ttl > 0 THEN CAST(strftime('%s', 'now') AS INTEGER) + :ttl ELSE 0 END)
ON CONFLICT ("key") DO UPDATE SET value = excluded.value, expiration = excluded.expiration

-- name: cache_forget
DELETE FROM cache WHERE "key" = :key

-- name: cache_clear
DELETE FROM cache
