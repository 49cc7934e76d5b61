-- State that must outlive `syncpay cache:clear` (which empties `cache`, as Laravel's
-- does): one row per name, e.g. the record of the last successful backup, read by
-- /healthz and /metrics. It was a `cache` row.
CREATE TABLE IF NOT EXISTS app_state (
    name VARCHAR(191) NOT NULL PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
