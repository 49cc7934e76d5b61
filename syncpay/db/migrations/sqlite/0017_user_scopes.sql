-- Officer scopes (issue #15). users.scope: the units, classes, dormitories and diniyah
-- levels a petugas sees, as JSON (syncpay/officers.py, OfficerScope.to_json); NULL = all
-- students. api_tokens.user_id: a token bound to a user acts as that user, with the
-- user's current role and scope (looked up on each use); NULL = an unbound token with
-- its own role and no scope. Nullable columns added at the end: SQLite only changes the
-- schema (no row is rewritten).
ALTER TABLE users ADD COLUMN scope TEXT NULL;
ALTER TABLE api_tokens ADD COLUMN user_id INTEGER NULL;
