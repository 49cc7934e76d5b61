-- The student pages (/admin/siswa): indexes for searching, filtering and sorting.
--
-- siswa_kata holds the words of every student's name and their idperson, lower-cased
-- (SQLite's lower(): ASCII letters), split at spaces, '-', '.' and ','. A search is an
-- index range per word ("hid" → kata >= 'hid' AND kata < 'hid' || char(1114111)).
-- Triggers keep it in step with siswa whoever writes the roster; an update that leaves
-- nama and idperson alone (every sync) does not touch it.
CREATE TABLE IF NOT EXISTS siswa_kata (
    kata VARCHAR(191) NOT NULL,
    siswa_id INTEGER NOT NULL,
    PRIMARY KEY (kata, siswa_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS siswa_kata_siswa_index ON siswa_kata (siswa_id, kata);

CREATE TRIGGER IF NOT EXISTS siswa_kata_insert AFTER INSERT ON siswa BEGIN
    INSERT OR IGNORE INTO siswa_kata (kata, siswa_id)
    SELECT w.value, new.id
    FROM json_each('[' || replace(json_quote(lower(replace(replace(replace(
        new.nama || ' ' || new.idperson, '-', ' '), '.', ' '), ',', ' '))), ' ', '","') || ']') AS w
    WHERE w.value <> ''; END;

CREATE TRIGGER IF NOT EXISTS siswa_kata_rename_old BEFORE UPDATE OF nama, idperson ON siswa
WHEN old.nama IS NOT new.nama OR old.idperson IS NOT new.idperson BEGIN
    DELETE FROM siswa_kata WHERE siswa_id = old.id; END;

CREATE TRIGGER IF NOT EXISTS siswa_kata_rename_new AFTER UPDATE OF nama, idperson ON siswa
WHEN old.nama IS NOT new.nama OR old.idperson IS NOT new.idperson BEGIN
    INSERT OR IGNORE INTO siswa_kata (kata, siswa_id)
    SELECT w.value, new.id
    FROM json_each('[' || replace(json_quote(lower(replace(replace(replace(
        new.nama || ' ' || new.idperson, '-', ' '), '.', ' '), ',', ' '))), ' ', '","') || ']') AS w
    WHERE w.value <> ''; END;

CREATE TRIGGER IF NOT EXISTS siswa_kata_delete AFTER DELETE ON siswa BEGIN
    DELETE FROM siswa_kata WHERE siswa_id = old.id; END;

-- The students already there.
INSERT OR IGNORE INTO siswa_kata (kata, siswa_id)
SELECT w.value, s.id
FROM siswa AS s, json_each('[' || replace(json_quote(lower(replace(replace(replace(
        s.nama || ' ' || s.idperson, '-', ' '), '.', ' '), ',', ' '))), ' ', '","') || ']') AS w
WHERE w.value <> '';

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
