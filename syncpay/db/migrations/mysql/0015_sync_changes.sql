-- What each sync changed (issue #14).
--
-- siswa_history: one row per sync that changed a student's totals or state (arrears,
-- overpayment, lunas), written in the transaction that stores the new totals. run_id
-- names the run that counted it (the newest, when two runs covered the student) and has
-- no foreign key: runs are pruned after SYNC_PRUNE_DAYS, the change keeps its date
-- (changed_at, epoch seconds from the database server's clock) and its numbers. A
-- *_before NULL: the student had never been synced (Belum Sinkron).
CREATE TABLE IF NOT EXISTS siswa_history (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    idperson VARCHAR(32) NOT NULL,
    run_id BIGINT UNSIGNED NULL,
    changed_at INT UNSIGNED NOT NULL,
    tunggakan_before DECIMAL(15, 2) NULL,
    tunggakan_after DECIMAL(15, 2) NOT NULL,
    kelebihan_before DECIMAL(15, 2) NULL,
    kelebihan_after DECIMAL(15, 2) NOT NULL,
    lunas_before TINYINT(1) NULL,
    lunas_after TINYINT(1) NOT NULL,
    KEY siswa_history_student_index (idperson, id),
    KEY siswa_history_run_index (run_id),
    KEY siswa_history_changed_at_index (changed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Each run's change summary, added with its counts: NULL for the runs from before this
-- migration (their progress says `changes: null`), 0 for a new run (set at insert).
-- Columns added at the end: MariaDB adds them in place (instant ALTER, no table copy);
-- IF NOT EXISTS: MariaDB commits DDL at once, so a migration cut off before it was
-- recorded runs again without an error.
ALTER TABLE sync_runs
    ADD COLUMN IF NOT EXISTS became_lunas INT UNSIGNED NULL,
    ADD COLUMN IF NOT EXISTS became_belum_lunas INT UNSIGNED NULL,
    ADD COLUMN IF NOT EXISTS first_synced INT UNSIGNED NULL,
    ADD COLUMN IF NOT EXISTS arrears_up INT UNSIGNED NULL,
    ADD COLUMN IF NOT EXISTS arrears_down INT UNSIGNED NULL,
    ADD COLUMN IF NOT EXISTS tunggakan_before DECIMAL(17, 2) NULL,
    ADD COLUMN IF NOT EXISTS tunggakan_after DECIMAL(17, 2) NULL;

-- What the run changed of each student (changed = 1, with before and after), so a run's
-- list of changed students is exact even when two runs counted one student's change.
ALTER TABLE sync_run_items
    ADD COLUMN IF NOT EXISTS changed TINYINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tunggakan_before DECIMAL(15, 2) NULL,
    ADD COLUMN IF NOT EXISTS tunggakan_after DECIMAL(15, 2) NULL,
    ADD COLUMN IF NOT EXISTS kelebihan_before DECIMAL(15, 2) NULL,
    ADD COLUMN IF NOT EXISTS kelebihan_after DECIMAL(15, 2) NULL,
    ADD COLUMN IF NOT EXISTS lunas_before TINYINT(1) NULL,
    ADD COLUMN IF NOT EXISTS lunas_after TINYINT(1) NULL,
    ADD INDEX IF NOT EXISTS sync_run_items_changed_index (run_id, changed, idperson);
