-- The student pages (/admin/siswa): indexes for searching, filtering and sorting.
--
-- siswa_kata holds the words of every student's name and their idperson, lower-cased,
-- split at spaces, '-', '.' and ','. A search is an index range per word
-- (kata LIKE 'hid%'). Triggers keep it in step with siswa whoever writes the roster; an
-- update that leaves nama and idperson alone (every sync) does not touch it.
CREATE TABLE IF NOT EXISTS siswa_kata (
    kata VARCHAR(191) NOT NULL,
    siswa_id BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (kata, siswa_id),
    KEY siswa_kata_siswa_index (siswa_id, kata)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TRIGGER IF NOT EXISTS siswa_kata_insert AFTER INSERT ON siswa FOR EACH ROW
    INSERT IGNORE INTO siswa_kata (kata, siswa_id)
    SELECT w.kata, NEW.id
    FROM JSON_TABLE(CONCAT('[', REPLACE(JSON_QUOTE(LOWER(REPLACE(REPLACE(REPLACE(
        CONCAT(NEW.nama, ' ', NEW.idperson), '-', ' '), '.', ' '), ',', ' '))), ' ', '","'), ']'),
        '$[*]' COLUMNS (kata VARCHAR(191) PATH '$')) AS w
    WHERE w.kata <> '';

CREATE TRIGGER IF NOT EXISTS siswa_kata_rename_old BEFORE UPDATE ON siswa FOR EACH ROW
    DELETE FROM siswa_kata
    WHERE siswa_id = OLD.id
      AND NOT (BINARY OLD.nama <=> BINARY NEW.nama AND BINARY OLD.idperson <=> BINARY NEW.idperson);

CREATE TRIGGER IF NOT EXISTS siswa_kata_rename_new AFTER UPDATE ON siswa FOR EACH ROW
    INSERT IGNORE INTO siswa_kata (kata, siswa_id)
    SELECT w.kata, NEW.id
    FROM JSON_TABLE(CONCAT('[', REPLACE(JSON_QUOTE(LOWER(REPLACE(REPLACE(REPLACE(
        CONCAT(NEW.nama, ' ', NEW.idperson), '-', ' '), '.', ' '), ',', ' '))), ' ', '","'), ']'),
        '$[*]' COLUMNS (kata VARCHAR(191) PATH '$')) AS w
    WHERE w.kata <> ''
      AND NOT (BINARY OLD.nama <=> BINARY NEW.nama AND BINARY OLD.idperson <=> BINARY NEW.idperson);

CREATE TRIGGER IF NOT EXISTS siswa_kata_delete AFTER DELETE ON siswa FOR EACH ROW
    DELETE FROM siswa_kata WHERE siswa_id = OLD.id;

-- The students already there.
INSERT IGNORE INTO siswa_kata (kata, siswa_id)
SELECT w.kata, s.id
FROM siswa AS s, JSON_TABLE(CONCAT('[', REPLACE(JSON_QUOTE(LOWER(REPLACE(REPLACE(REPLACE(
        CONCAT(s.nama, ' ', s.idperson), '-', ' '), '.', ' '), ',', ' '))), ' ', '","'), ']'),
        '$[*]' COLUMNS (kata VARCHAR(191) PATH '$')) AS w
WHERE w.kata <> '';

-- The list's orders, each followed by the filter columns: a large result's page is a walk
-- along one of these that checks unit, class and state in the index itself and stops once
-- the page is full.
CREATE INDEX IF NOT EXISTS siswa_list_nama_index
    ON siswa (nama, id, UnitFormal, KelasFormal, is_lunas);
CREATE INDEX IF NOT EXISTS siswa_list_tunggakan_index
    ON siswa (total_tunggakan, id, UnitFormal, KelasFormal, is_lunas);
CREATE INDEX IF NOT EXISTS siswa_list_synced_index
    ON siswa (synced_at, id, UnitFormal, KelasFormal, is_lunas);
-- A unit's, a class's or a payment state's students with the list's columns: counted,
-- filtered and sorted from the index alone. (synced_at is only in siswa_list_synced_index:
-- every sync sets it, so each index holding it is written on every sync.)
CREATE INDEX IF NOT EXISTS siswa_list_unit_index
    ON siswa (UnitFormal, KelasFormal, is_lunas, nama, total_tunggakan);
CREATE INDEX IF NOT EXISTS siswa_list_kelas_index
    ON siswa (KelasFormal, UnitFormal, is_lunas, nama, total_tunggakan);
CREATE INDEX IF NOT EXISTS siswa_list_status_index
    ON siswa (is_lunas, UnitFormal, KelasFormal, nama, total_tunggakan);
-- The list's columns by id, for the candidates of a search: they are filtered and sorted
-- from here, never from the rows (which carry the whole payment answer, several KB each).
CREATE INDEX IF NOT EXISTS siswa_list_id_index
    ON siswa (id, UnitFormal, KelasFormal, is_lunas, nama, total_tunggakan);
