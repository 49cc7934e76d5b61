-- State that must outlive `syncpay cache:clear` (which empties `cache`, as Laravel's
-- does): one row per name, e.g. the record of the last successful backup, read by
-- /healthz and /metrics. It was a `cache` row.
CREATE TABLE IF NOT EXISTS app_state (
    name VARCHAR(191) NOT NULL,
    value MEDIUMTEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
