-- Who may use the web pages and the JSON API: users (password hashed with scrypt),
-- API tokens (stored as their SHA-256; revoked, never deleted) and login sessions.
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(191) NOT NULL UNIQUE,
    password VARCHAR(255) NOT NULL,
    role VARCHAR(16) NOT NULL CHECK (role IN ('admin', 'petugas')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(191) NOT NULL,
    role VARCHAR(16) NOT NULL CHECK (role IN ('admin', 'petugas')),
    token_hash CHAR(64) NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NULL,
    revoked_at INTEGER NULL
);

CREATE TABLE IF NOT EXISTS web_sessions (
    id CHAR(64) PRIMARY KEY,
    user_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_user_index ON web_sessions (user_id);
CREATE INDEX IF NOT EXISTS web_sessions_expires_index ON web_sessions (expires_at);
