-- Who may use the web pages and the JSON API: users (password hashed with scrypt),
-- API tokens (stored as their SHA-256; revoked, never deleted) and login sessions.
CREATE TABLE IF NOT EXISTS users (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(191) NOT NULL,
    password VARCHAR(255) NOT NULL,
    role VARCHAR(16) NOT NULL,
    created_at INT UNSIGNED NOT NULL,
    updated_at INT UNSIGNED NOT NULL,
    UNIQUE KEY users_name_unique (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS api_tokens (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(191) NOT NULL,
    role VARCHAR(16) NOT NULL,
    token_hash CHAR(64) NOT NULL,
    created_at INT UNSIGNED NOT NULL,
    last_used_at INT UNSIGNED NULL,
    revoked_at INT UNSIGNED NULL,
    UNIQUE KEY api_tokens_hash_unique (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS web_sessions (
    id CHAR(64) NOT NULL PRIMARY KEY,
    user_id BIGINT UNSIGNED NOT NULL,
    created_at INT UNSIGNED NOT NULL,
    last_seen_at INT UNSIGNED NOT NULL,
    expires_at INT UNSIGNED NOT NULL,
    KEY web_sessions_user_index (user_id),
    KEY web_sessions_expires_index (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
