-- A lock row between the students' accounting and a cancel (MySQL; see the MySQL
-- migration). SQLite has one writer at a time: the table exists so both dialects have
-- the same tables.
CREATE TABLE IF NOT EXISTS sync_locks (
    name TEXT NOT NULL PRIMARY KEY
);

INSERT OR IGNORE INTO sync_locks (name) VALUES ('runs');
