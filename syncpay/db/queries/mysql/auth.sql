-- Users, API tokens and login sessions (syncpay/accounts.py, syncpay/web/session.py).
-- MySQL / MariaDB. Every query name here exists in the other dialect too (a test checks).

-- name: user_insert
INSERT INTO users (name, password, role, created_at, updated_at)
VALUES (:name, :password, :role, UNIX_TIMESTAMP(), UNIX_TIMESTAMP())

-- name: user_update
UPDATE users SET password = :password, role = :role, updated_at = UNIX_TIMESTAMP() WHERE name = :name

-- name: user_by_name
SELECT id, name, password, role FROM users WHERE name = :name

-- name: user_by_id
SELECT id, name, password, role FROM users WHERE id = :id

-- name: users_all
SELECT id, name, role, created_at FROM users ORDER BY name

-- name: user_delete
DELETE FROM users WHERE name = :name

-- name: token_insert
INSERT INTO api_tokens (name, role, token_hash, created_at)
VALUES (:name, :role, :token_hash, UNIX_TIMESTAMP())

-- name: token_by_hash
SELECT id, name, role FROM api_tokens WHERE token_hash = :token_hash AND revoked_at IS NULL

-- name: token_touch
UPDATE api_tokens SET last_used_at = UNIX_TIMESTAMP()
WHERE id = :id AND (last_used_at IS NULL OR last_used_at < UNIX_TIMESTAMP() - 60)

-- name: tokens_all
SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id

-- name: token_revoke
UPDATE api_tokens SET revoked_at = UNIX_TIMESTAMP()
WHERE revoked_at IS NULL AND (name = :name OR CAST(id AS CHAR) = :name)

-- name: session_insert
INSERT INTO web_sessions (id, user_id, created_at, last_seen_at, expires_at)
VALUES (:id, :user_id, UNIX_TIMESTAMP(), UNIX_TIMESTAMP(), UNIX_TIMESTAMP() + :lifetime)

-- name: session_user
SELECT u.id, u.name, u.role, s.last_seen_at, s.expires_at, UNIX_TIMESTAMP() AS now
FROM web_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = :id AND s.expires_at > UNIX_TIMESTAMP()

-- name: session_touch
UPDATE web_sessions SET last_seen_at = UNIX_TIMESTAMP(), expires_at = UNIX_TIMESTAMP() + :lifetime WHERE id = :id

-- name: session_delete
DELETE FROM web_sessions WHERE id = :id

-- name: sessions_delete_user
DELETE FROM web_sessions WHERE user_id = :user_id

-- name: sessions_prune
DELETE FROM web_sessions WHERE expires_at <= UNIX_TIMESTAMP()

-- name: login_links_forget
-- A user's one-time login links (cache rows syncpay:login-once:<hash> = the user's name).
DELETE FROM cache WHERE `key` LIKE :prefix AND value = :name
