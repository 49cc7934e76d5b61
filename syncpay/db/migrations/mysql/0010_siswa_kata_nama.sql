-- A search word that many students share ("muhammad": one student in nine) is paged in
-- name order straight from siswa_kata: each word row carries its student's name, and
-- (kata, nama, siswa_id) walks one word's students already sorted, stopping when the
-- page is full, instead of reading and sorting every student that has the word.
-- The triggers of 0007 fill the name in; they still fire only when nama or idperson
-- change (never on a sync).
ALTER TABLE siswa_kata ADD COLUMN IF NOT EXISTS nama VARCHAR(191) NOT NULL DEFAULT '';

DROP TRIGGER IF EXISTS siswa_kata_insert;
CREATE TRIGGER siswa_kata_insert AFTER INSERT ON siswa FOR EACH ROW
    INSERT IGNORE INTO siswa_kata (kata, siswa_id, nama)
    SELECT w.kata, NEW.id, NEW.nama
    FROM JSON_TABLE(CONCAT('[', REPLACE(JSON_QUOTE(LOWER(REPLACE(REPLACE(REPLACE(
        CONCAT(NEW.nama, ' ', NEW.idperson), '-', ' '), '.', ' '), ',', ' '))), ' ', '","'), ']'),
        '$[*]' COLUMNS (kata VARCHAR(191) PATH '$')) AS w
    WHERE w.kata <> '';

DROP TRIGGER IF EXISTS siswa_kata_rename_new;
CREATE TRIGGER siswa_kata_rename_new AFTER UPDATE ON siswa FOR EACH ROW
    INSERT IGNORE INTO siswa_kata (kata, siswa_id, nama)
    SELECT w.kata, NEW.id, NEW.nama
    FROM JSON_TABLE(CONCAT('[', REPLACE(JSON_QUOTE(LOWER(REPLACE(REPLACE(REPLACE(
        CONCAT(NEW.nama, ' ', NEW.idperson), '-', ' '), '.', ' '), ',', ' '))), ' ', '","'), ']'),
        '$[*]' COLUMNS (kata VARCHAR(191) PATH '$')) AS w
    WHERE w.kata <> ''
      AND NOT (BINARY OLD.nama <=> BINARY NEW.nama AND BINARY OLD.idperson <=> BINARY NEW.idperson);

-- The students already there.
UPDATE siswa_kata AS k JOIN siswa AS s ON s.id = k.siswa_id SET k.nama = s.nama;

CREATE INDEX IF NOT EXISTS siswa_kata_nama_index ON siswa_kata (kata, nama, siswa_id);
