-- A lock row between the students' accounting and a cancel.
--
-- Every transaction that counts students reads the 'runs' row in share mode: they run
-- side by side. A cancel locks it exclusively: it waits for the counting transactions
-- in flight, and those that start later see the cancel. The run's own row is then
-- locked only for the few statements that add a round's counts, just before COMMIT.
CREATE TABLE IF NOT EXISTS sync_locks (
    name VARCHAR(32) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO sync_locks (name) VALUES ('runs');
