-- Sync runs, what each counted per student, and their activity log. Times are whole
-- seconds since the epoch from the database's clock, like the queue's.
CREATE TABLE IF NOT EXISTS sync_runs (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    scope_type VARCHAR(16) NOT NULL,
    scope MEDIUMTEXT NOT NULL,
    scope_label VARCHAR(191) NOT NULL,
    status VARCHAR(16) NOT NULL,
    -- 1 while a run over all students is active: the unique index makes "start all"
    -- single-flight whatever the number of servers.
    active_all TINYINT NULL,
    total INT UNSIGNED NOT NULL DEFAULT 0,
    processed INT UNSIGNED NOT NULL DEFAULT 0,
    failed INT UNSIGNED NOT NULL DEFAULT 0,
    unchanged INT UNSIGNED NOT NULL DEFAULT 0,
    dispatched TINYINT NOT NULL DEFAULT 0,
    dispatch_cursor VARCHAR(32) NULL,
    sort_base BIGINT NOT NULL DEFAULT 0,
    started_by VARCHAR(191) NOT NULL,
    started_at INT UNSIGNED NOT NULL,
    finished_at INT UNSIGNED NULL,
    cleared_at INT UNSIGNED NULL,
    UNIQUE KEY sync_runs_active_all_unique (active_all),
    KEY sync_runs_status_index (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per student a run queued (status queued), finished as done / unchanged / failed.
CREATE TABLE IF NOT EXISTS sync_run_items (
    run_id BIGINT UNSIGNED NOT NULL,
    idperson VARCHAR(32) NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INT UNSIGNED NOT NULL,
    reason TEXT NULL,
    finished_at INT UNSIGNED NOT NULL,
    PRIMARY KEY (run_id, idperson),
    KEY sync_run_items_finished_index (run_id, finished_at),
    KEY sync_run_items_status_index (run_id, status),
    KEY sync_run_items_student_index (idperson, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS sync_logs (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    run_id BIGINT UNSIGNED NOT NULL,
    at INT UNSIGNED NOT NULL,
    level VARCHAR(10) NOT NULL,
    message TEXT NOT NULL,
    KEY sync_logs_run_index (run_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
