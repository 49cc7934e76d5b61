-- Laravel's database cache store.
-- MySQL / MariaDB (10.6+). Every query name here exists for SQLite too (a test checks).
-- Time: the database server's clock, in whole seconds since the epoch, so workers on
-- several machines agree on leases whatever their own clocks say.

-- name: cache_get
SELECT value FROM cache
WHERE `key` = :key AND (expiration = 0 OR expiration > UNIX_TIMESTAMP())

-- name: cache_put
INSERT INTO cache (`key`, value, expiration)
VALUES (:key, :value, CASE WHEN :ttl > 0 THEN UNIX_TIMESTAMP() + :ttl ELSE 0 END)
ON DUPLICATE KEY UPDATE value = VALUES(value), expiration = VALUES(expiration)

-- name: cache_forget
DELETE FROM cache WHERE `key` = :key

-- name: cache_clear
DELETE FROM cache

-- name: state_get
-- app_state (migration 0020): what `cache:clear` must not empty.
SELECT value FROM app_state WHERE name = :name

-- name: state_put
INSERT INTO app_state (name, value, updated_at) VALUES (:name, :value, UNIX_TIMESTAMP())
ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)
