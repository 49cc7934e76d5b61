-- What each sync changed (issue #14).
--
-- siswa_history: one row per sync that changed a student's totals or state (arrears,
-- overpayment, lunas), written in the transaction that stores the new totals. run_id
-- names the run that counted it (the newest, when two runs covered the student) and has
-- no foreign key: runs are pruned after SYNC_PRUNE_DAYS, the change keeps its date
-- (changed_at, epoch seconds from the database's clock) and its numbers. A *_before
-- NULL: the student had never been synced (Belum Sinkron).
CREATE TABLE IF NOT EXISTS siswa_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idperson VARCHAR(32) NOT NULL,
    run_id INTEGER NULL,
    changed_at INTEGER NOT NULL,
    tunggakan_before DECIMAL(15, 2) NULL,
    tunggakan_after DECIMAL(15, 2) NOT NULL,
    kelebihan_before DECIMAL(15, 2) NULL,
    kelebihan_after DECIMAL(15, 2) NOT NULL,
    lunas_before BOOLEAN NULL,
    lunas_after BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS siswa_history_student_index ON siswa_history (idperson, id);
CREATE INDEX IF NOT EXISTS siswa_history_run_index ON siswa_history (run_id);
CREATE INDEX IF NOT EXISTS siswa_history_changed_at_index ON siswa_history (changed_at);

-- Each run's change summary, added with its counts: NULL for the runs from before this
-- migration (their progress says `changes: null`), 0 for a new run (set at insert).
-- Nullable columns added at the end: SQLite only changes the schema (no row is
-- rewritten), in the same transaction that records the migration.
ALTER TABLE sync_runs ADD COLUMN became_lunas INTEGER NULL;
ALTER TABLE sync_runs ADD COLUMN became_belum_lunas INTEGER NULL;
ALTER TABLE sync_runs ADD COLUMN first_synced INTEGER NULL;
ALTER TABLE sync_runs ADD COLUMN arrears_up INTEGER NULL;
ALTER TABLE sync_runs ADD COLUMN arrears_down INTEGER NULL;
ALTER TABLE sync_runs ADD COLUMN tunggakan_before DECIMAL(17, 2) NULL;
ALTER TABLE sync_runs ADD COLUMN tunggakan_after DECIMAL(17, 2) NULL;

-- What the run changed of each student (changed = 1, with before and after), so a run's
-- list of changed students is exact even when two runs counted one student's change.
ALTER TABLE sync_run_items ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_run_items ADD COLUMN tunggakan_before DECIMAL(15, 2) NULL;
ALTER TABLE sync_run_items ADD COLUMN tunggakan_after DECIMAL(15, 2) NULL;
ALTER TABLE sync_run_items ADD COLUMN kelebihan_before DECIMAL(15, 2) NULL;
ALTER TABLE sync_run_items ADD COLUMN kelebihan_after DECIMAL(15, 2) NULL;
ALTER TABLE sync_run_items ADD COLUMN lunas_before BOOLEAN NULL;
ALTER TABLE sync_run_items ADD COLUMN lunas_after BOOLEAN NULL;
CREATE INDEX IF NOT EXISTS sync_run_items_changed_index
    ON sync_run_items (run_id, changed, idperson);
