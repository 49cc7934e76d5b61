-- Laravel's jobs / failed_jobs columns, plus the lease token (reserved_by), a sort key
-- (workers take the lowest first; the sync uses it to share workers fairly between
-- runs) and an optional unique key (at most one queued job per key, e.g. per student).
CREATE TABLE IF NOT EXISTS {jobs} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue VARCHAR(191) NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reserved_at INTEGER NULL,
    available_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    reserved_by VARCHAR(100) NULL,
    sort_key INTEGER NOT NULL DEFAULT 0,
    unique_key VARCHAR(191) NULL
);
CREATE INDEX IF NOT EXISTS {jobs}_claim_index ON {jobs} (queue, reserved_at, sort_key, id);
CREATE UNIQUE INDEX IF NOT EXISTS {jobs}_unique_key_unique ON {jobs} (unique_key);

CREATE TABLE IF NOT EXISTS failed_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid VARCHAR(191) NOT NULL UNIQUE,
    connection TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    exception TEXT NOT NULL,
    failed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS failed_jobs_failed_at_index ON failed_jobs (failed_at);
