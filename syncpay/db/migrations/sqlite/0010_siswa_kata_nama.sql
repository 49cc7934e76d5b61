-- A search word that many students share ("muhammad": one student in nine) is paged in
-- name order straight from siswa_kata: each word row carries its student's name, and
-- (kata, nama, siswa_id) walks one word's students already sorted, stopping when the
-- page is full, instead of reading and sorting every student that has the word.
-- The triggers of 0007 fill the name in; they still fire only when nama or idperson
-- change (never on a sync).
ALTER TABLE siswa_kata ADD COLUMN nama VARCHAR(191) NOT NULL DEFAULT '';

DROP TRIGGER IF EXISTS siswa_kata_insert;
CREATE TRIGGER siswa_kata_insert AFTER INSERT ON siswa BEGIN
    INSERT OR IGNORE INTO siswa_kata (kata, siswa_id, nama)
    SELECT w.value, new.id, new.nama
    FROM json_each('[' || replace(json_quote(lower(replace(replace(replace(
        new.nama || ' ' || new.idperson, '-', ' '), '.', ' '), ',', ' '))), ' ', '","') || ']') AS w
    WHERE w.value <> ''; END;

DROP TRIGGER IF EXISTS siswa_kata_rename_new;
CREATE TRIGGER siswa_kata_rename_new AFTER UPDATE OF nama, idperson ON siswa
WHEN old.nama IS NOT new.nama OR old.idperson IS NOT new.idperson BEGIN
    INSERT OR IGNORE INTO siswa_kata (kata, siswa_id, nama)
    SELECT w.value, new.id, new.nama
    FROM json_each('[' || replace(json_quote(lower(replace(replace(replace(
        new.nama || ' ' || new.idperson, '-', ' '), '.', ' '), ',', ' '))), ' ', '","') || ']') AS w
    WHERE w.value <> ''; END;

-- The students already there.
UPDATE siswa_kata
SET nama = coalesce((SELECT s.nama FROM siswa AS s WHERE s.id = siswa_kata.siswa_id), '');

CREATE INDEX IF NOT EXISTS siswa_kata_nama_index ON siswa_kata (kata, nama, siswa_id);
