-- Sync runs, what each counted per student, and their activity log. Times are whole
-- seconds since the epoch from the database's clock, like the queue's.
CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_type VARCHAR(16) NOT NULL,
    scope TEXT NOT NULL,
    scope_label VARCHAR(191) NOT NULL,
    status VARCHAR(16) NOT NULL,
    -- 1 while a run over all students is active: the unique index makes "start all"
    -- single-flight whatever the number of servers.
    active_all INTEGER NULL UNIQUE,
    total INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    dispatched INTEGER NOT NULL DEFAULT 0,
    dispatch_cursor VARCHAR(32) NULL,
    sort_base INTEGER NOT NULL DEFAULT 0,
    started_by VARCHAR(191) NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NULL,
    cleared_at INTEGER NULL
);
CREATE INDEX IF NOT EXISTS sync_runs_status_index ON sync_runs (status);

-- One row per student a run queued (status queued), finished as done / unchanged / failed.
CREATE TABLE IF NOT EXISTS sync_run_items (
    run_id INTEGER NOT NULL,
    idperson VARCHAR(32) NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NULL,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, idperson)
);
CREATE INDEX IF NOT EXISTS sync_run_items_finished_index ON sync_run_items (run_id, finished_at);
CREATE INDEX IF NOT EXISTS sync_run_items_status_index ON sync_run_items (run_id, status);
CREATE INDEX IF NOT EXISTS sync_run_items_student_index ON sync_run_items (idperson, status);

CREATE TABLE IF NOT EXISTS sync_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    level VARCHAR(10) NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sync_logs_run_index ON sync_logs (run_id, id);
