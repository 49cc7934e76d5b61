-- Users, API tokens and login sessions (syncpay/accounts.py, syncpay/web/session.py).
-- MySQL / MariaDB. Every query name here exists in the other dialect too (a test checks).

-- name: user_insert
INSERT INTO users (name, password, role, scope, created_at, updated_at)
VALUES (:name, :password, :role, :scope, UNIX_TIMESTAMP(), UNIX_TIMESTAMP())

-- name: user_update
UPDATE users SET password = :password, role = :role, updated_at = UNIX_TIMESTAMP() WHERE name = :name

-- name: user_by_name
SELECT id, name, password, role, scope FROM users WHERE name = :name

-- name: user_by_id
SELECT id, name, password, role, scope FROM users WHERE id = :id

-- name: users_all
SELECT id, name, role, scope, created_at FROM users ORDER BY name

-- name: user_set_scope
UPDATE users SET scope = :scope, updated_at = UNIX_TIMESTAMP() WHERE id = :id

-- name: user_set_role
UPDATE users SET role = :role, scope = :scope, updated_at = UNIX_TIMESTAMP() WHERE id = :id

-- name: users_admin_ids
-- Read in the transaction that would demote an admin (accounts.keep_an_admin).
SELECT id FROM users WHERE role = 'admin' FOR UPDATE

-- name: user_set_password
UPDATE users SET password = :password, updated_at = UNIX_TIMESTAMP() WHERE id = :id

-- name: user_delete
DELETE FROM users WHERE name = :name

-- name: token_insert
INSERT INTO api_tokens (name, role, token_hash, user_id, created_at)
VALUES (:name, :role, :token_hash, :user_id, UNIX_TIMESTAMP())

-- name: token_by_hash
-- A token bound to a user (user_id, migration 0017) acts as that user, with the user's
-- current role and scope; a bound token whose user was removed finds no user_name.
SELECT t.id, t.name, t.role, t.user_id, u.name AS user_name, u.role AS user_role,
       u.scope AS user_scope
FROM api_tokens AS t LEFT JOIN users AS u ON u.id = t.user_id
WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL

-- name: token_touch
UPDATE api_tokens SET last_used_at = UNIX_TIMESTAMP()
WHERE id = :id AND (last_used_at IS NULL OR last_used_at < UNIX_TIMESTAMP() - 60)

-- name: tokens_all
SELECT t.id, t.name, t.role, t.created_at, t.last_used_at, t.revoked_at, t.user_id,
       u.name AS user_name
FROM api_tokens AS t LEFT JOIN users AS u ON u.id = t.user_id
ORDER BY t.id

-- name: token_revoke
UPDATE api_tokens SET revoked_at = UNIX_TIMESTAMP()
WHERE revoked_at IS NULL AND (name = :name OR CAST(id AS CHAR) = :name)

-- name: session_insert
INSERT INTO web_sessions (id, user_id, created_at, last_seen_at, expires_at)
VALUES (:id, :user_id, UNIX_TIMESTAMP(), UNIX_TIMESTAMP(), UNIX_TIMESTAMP() + :lifetime)

-- name: session_user
SELECT u.id, u.name, u.role, u.scope, s.last_seen_at, s.expires_at, UNIX_TIMESTAMP() AS now
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
