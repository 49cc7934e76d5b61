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

-- name: state_get
-- app_state (migration 0020): what `cache:clear` must not empty.
SELECT value FROM app_state WHERE name = :name

-- name: state_put
INSERT INTO app_state (name, value, updated_at)
VALUES (:name, :value, CAST(strftime('%s', 'now') AS INTEGER))
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
