-- Laravel's jobs / failed_jobs columns, plus the lease token (reserved_by), a sort key
-- (workers take the lowest first; the sync uses it to share workers fairly between
-- runs) and an optional unique key (at most one queued job per key, e.g. per student).
CREATE TABLE IF NOT EXISTS {jobs} (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    queue VARCHAR(191) NOT NULL,
    payload LONGTEXT NOT NULL,
    attempts INT UNSIGNED NOT NULL DEFAULT 0,
    reserved_at INT UNSIGNED NULL,
    available_at INT UNSIGNED NOT NULL,
    created_at INT UNSIGNED NOT NULL,
    reserved_by VARCHAR(100) NULL,
    sort_key BIGINT NOT NULL DEFAULT 0,
    unique_key VARCHAR(191) NULL,
    KEY {jobs}_claim_index (queue, reserved_at, sort_key, id),
    UNIQUE KEY {jobs}_unique_key_unique (unique_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS failed_jobs (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uuid VARCHAR(191) NOT NULL,
    connection TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload LONGTEXT NOT NULL,
    exception LONGTEXT NOT NULL,
    failed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY failed_jobs_uuid_unique (uuid),
    KEY failed_jobs_failed_at_index (failed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
