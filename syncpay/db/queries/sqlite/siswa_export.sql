-- The student list's CSV export (GET /admin/siswa/export.csv; syncpay/students/listing.py
-- export_students). SQLite. Every query name here exists for MySQL too (a test checks).
--
-- Every student the list shows for the same filters and search, in the list's order, read
-- in keyset chunks: each query walks the sort order's siswa_list_*_index from just after
-- the last row of the previous chunk (:after, the sort column's value, and :after_id),
-- checks the list's filters in the index (the parameters are the list's: see siswa.sql)
-- and stops after :limit students. It returns the students' ids and the sort key, which
-- the next chunk starts after; siswa_export_rows then reads their columns. A sort on a
-- column that may be NULL (the arrears, the last sync: never synced students) walks two
-- ranges: the NULLs are first in ascending order and last in descending order, as in the
-- list, and are walked by id.

-- name: siswa_export_nama_first
-- Sorted by name: the first chunk. (No lower bound: under MySQL's PAD SPACE collations
-- a name starting with a tab sorts before '', so '' cannot start the walk.)
SELECT s.id, s.nama AS k FROM siswa AS s INDEXED BY siswa_list_nama_index
WHERE (:unit IS NULL OR s.UnitFormal = :unit)
  AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND (:status_any = 1 OR s.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = s.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = s.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = s.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = s.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY s.nama, s.id
LIMIT :limit

-- name: siswa_export_nama
-- Sorted by name: after (:after, :after_id).
SELECT s.id, s.nama AS k FROM siswa AS s INDEXED BY siswa_list_nama_index
WHERE s.nama >= :after AND (s.nama > :after OR s.id > :after_id)
  AND (:unit IS NULL OR s.UnitFormal = :unit)
  AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND (:status_any = 1 OR s.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = s.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = s.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = s.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = s.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY s.nama, s.id
LIMIT :limit

-- name: siswa_export_tunggakan_asc
-- Arrears, smallest first: the synced students, after the never synced (below).
SELECT s.id, s.total_tunggakan AS k FROM siswa AS s INDEXED BY siswa_list_tunggakan_index
WHERE s.total_tunggakan >= :after AND (s.total_tunggakan > :after OR s.id > :after_id)
  AND (:unit IS NULL OR s.UnitFormal = :unit)
  AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND (:status_any = 1 OR s.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = s.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = s.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = s.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = s.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY s.total_tunggakan, s.id
LIMIT :limit

-- name: siswa_export_tunggakan_null_asc
-- The students without arrears yet (never synced), first when sorted smallest first.
SELECT s.id, NULL AS k FROM siswa AS s INDEXED BY siswa_list_tunggakan_index
WHERE s.total_tunggakan IS NULL AND s.id > :after_id
  AND (:unit IS NULL OR s.UnitFormal = :unit)
  AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND (:status_any = 1 OR s.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = s.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = s.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = s.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = s.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY s.id
LIMIT :limit

-- name: siswa_export_tunggakan_desc
-- Arrears, largest first: the synced students, then the never synced (below).
SELECT s.id, s.total_tunggakan AS k FROM siswa AS s INDEXED BY siswa_list_tunggakan_index
WHERE s.total_tunggakan <= :after AND (s.total_tunggakan < :after OR s.id < :after_id)
  AND (:unit IS NULL OR s.UnitFormal = :unit)
  AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND (:status_any = 1 OR s.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = s.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = s.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = s.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = s.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY s.total_tunggakan DESC, s.id DESC
LIMIT :limit

-- name: siswa_export_tunggakan_null_desc
-- The never synced students, last when sorted largest first.
SELECT s.id, NULL AS k FROM siswa AS s INDEXED BY siswa_list_tunggakan_index
WHERE s.total_tunggakan IS NULL AND s.id < :after_id
  AND (:unit IS NULL OR s.UnitFormal = :unit)
  AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND (:status_any = 1 OR s.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = s.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = s.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = s.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = s.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY s.id DESC
LIMIT :limit

-- name: siswa_export_synced_desc
-- Last synced first: the synced students, then the never synced (below).
SELECT s.id, s.synced_at AS k FROM siswa AS s INDEXED BY siswa_list_synced_index
WHERE s.synced_at <= :after AND (s.synced_at < :after OR s.id < :after_id)
  AND (:unit IS NULL OR s.UnitFormal = :unit)
  AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND (:status_any = 1 OR s.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = s.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = s.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = s.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = s.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY s.synced_at DESC, s.id DESC
LIMIT :limit

-- name: siswa_export_synced_null_desc
-- The never synced students, last when sorted by the last sync.
SELECT s.id, NULL AS k FROM siswa AS s INDEXED BY siswa_list_synced_index
WHERE s.synced_at IS NULL AND s.id < :after_id
  AND (:unit IS NULL OR s.UnitFormal = :unit)
  AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND (:status_any = 1 OR s.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = s.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = s.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = s.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = s.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY s.id DESC
LIMIT :limit

-- name: siswa_export_rows
-- The exported columns of a chunk's students (never the stored answer).
SELECT id, idperson, nama, UnitFormal, KelasFormal, is_lunas, synced_at, total_tagihan,
       total_dibayar, total_tunggakan, total_kelebihan
FROM siswa
WHERE id IN (:ids)
