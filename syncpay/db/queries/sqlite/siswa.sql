-- The student roster (siswa:import, syncpay/students/importing.py).
-- SQLite. Every query name here exists for MySQL too (a test checks).
-- Only the roster columns are written here: the sync columns (pembayaran, the totals,
-- is_lunas, synced_at, sync_error) belong to the sync. Timestamps: UTC, the database's
-- clock.

-- name: roster_find
SELECT id, idperson, nama, gender, lahirtempat, lahirtanggal, phone, UnitFormal, KelasFormal,
       AsramaPondok, KamarPondok, TingkatDiniyah, KelasDiniyah
FROM siswa
WHERE idperson IN (:ids)

-- name: roster_upsert
INSERT INTO siswa (idperson, nama, gender, lahirtempat, lahirtanggal, phone, UnitFormal,
                   KelasFormal, AsramaPondok, KamarPondok, TingkatDiniyah, KelasDiniyah,
                   created_at, updated_at)
VALUES (:idperson, :nama, :gender, :lahirtempat, :lahirtanggal, :phone, :UnitFormal,
        :KelasFormal, :AsramaPondok, :KamarPondok, :TingkatDiniyah, :KelasDiniyah,
        strftime('%Y-%m-%d %H:%M:%S', 'now'), strftime('%Y-%m-%d %H:%M:%S', 'now'))
ON CONFLICT (idperson) DO UPDATE SET
    nama = excluded.nama, gender = excluded.gender, lahirtempat = excluded.lahirtempat,
    lahirtanggal = excluded.lahirtanggal, phone = excluded.phone,
    UnitFormal = excluded.UnitFormal, KelasFormal = excluded.KelasFormal,
    AsramaPondok = excluded.AsramaPondok, KamarPondok = excluded.KamarPondok,
    TingkatDiniyah = excluded.TingkatDiniyah, KelasDiniyah = excluded.KelasDiniyah,
    updated_at = excluded.updated_at

-- name: roster_idpersons
SELECT idperson FROM siswa ORDER BY idperson

-- name: roster_delete
DELETE FROM siswa WHERE idperson IN (:ids)

-- name: roster_analyze
-- Nothing to do: the student pages' queries name their indexes (INDEXED BY), and the
-- planner keeps no statistics here that an import could leave stale.
SELECT 1 AS ok

-- --- The student pages (/admin/siswa; syncpay/web/routes/siswa.py) ----------------------
-- Only the page's own rows are read from siswa (whose rows hold the whole payment answer):
-- everything else is answered from indexes (migration 0007).
--
-- Parameters of the list queries:
--   :unit, :kelas          NULL = any
--   :status_any, :lunas    1 = any state; else is_lunas IS :lunas (1 lunas, 0 belum lunas,
--                          NULL belum sinkron)
--   :words, :w1 … :w4      the search: how many words (0 = none) and each word's prefix
--                          (kata >= :wN AND kata < :wN_end; the rarest word first)
--   :sort                  nama | tunggakan_desc | tunggakan_asc | synced_desc (a driver's
--                          page sorts by the first three; synced_desc always walks
--                          siswa_list_synced_index, as synced_at is in no other index)
--   :cap / :limit, :offset the count stops at :cap rows; the page's window
-- The "driver" is the index that finds the candidates for the most selective filter given
-- (kelas, then the search, then unit, then state). The class, unit and state indexes hold
-- every list column; siswa_list_id_index gives them to a search's candidates. A large result is paged by walking the sort's
-- siswa_list_*_index instead (siswa_page_scan_*), the filters checked in the index, until
-- the page is full.

-- name: siswa_kata_counts
-- How many name words start with each search word (up to :cap): the rarest one drives.
SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM siswa_kata WHERE kata >= :w1 AND kata < :w1_end
                        LIMIT :cap) AS t1) AS n1,
       (SELECT COUNT(*) FROM (SELECT 1 FROM siswa_kata WHERE kata >= :w2 AND kata < :w2_end
                        LIMIT :cap) AS t2) AS n2,
       (SELECT COUNT(*) FROM (SELECT 1 FROM siswa_kata WHERE kata >= :w3 AND kata < :w3_end
                        LIMIT :cap) AS t3) AS n3,
       (SELECT COUNT(*) FROM (SELECT 1 FROM siswa_kata WHERE kata >= :w4 AND kata < :w4_end
                        LIMIT :cap) AS t4) AS n4

-- name: siswa_count_all
SELECT COUNT(*) AS n FROM (SELECT 1 FROM siswa LIMIT :cap) AS t

-- name: siswa_count_kelas
SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM siswa AS d INDEXED BY siswa_list_kelas_index
    WHERE d.KelasFormal = :kelas
      AND (:unit IS NULL OR d.UnitFormal = :unit)
      AND (:kelas IS NULL OR d.KelasFormal = :kelas)
      AND (:status_any = 1 OR d.is_lunas IS :lunas)
      AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
              WHERE k1.siswa_id = d.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
      AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
              WHERE k2.siswa_id = d.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
      AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
              WHERE k3.siswa_id = d.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
      AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
              WHERE k4.siswa_id = d.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
      AND (:scoped = 0 OR d.id IN (SELECT c.id FROM siswa AS c
              WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
                 OR c.TingkatDiniyah IN (:scope_diniyah)
                 OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
    LIMIT :cap) AS t

-- name: siswa_count_kata
SELECT COUNT(*) AS n FROM (
    SELECT DISTINCT k.siswa_id FROM siswa_kata AS k
    WHERE k.kata >= :w1 AND k.kata < :w1_end
      AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
              WHERE k2.siswa_id = k.siswa_id AND k2.kata >= :w2 AND k2.kata < :w2_end))
      AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
              WHERE k3.siswa_id = k.siswa_id AND k3.kata >= :w3 AND k3.kata < :w3_end))
      AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
              WHERE k4.siswa_id = k.siswa_id AND k4.kata >= :w4 AND k4.kata < :w4_end))
      AND (:filtered = 0 OR EXISTS (SELECT 1 FROM siswa AS x INDEXED BY siswa_list_id_index
          WHERE x.id = k.siswa_id
            AND (:unit IS NULL OR x.UnitFormal = :unit)
            AND (:kelas IS NULL OR x.KelasFormal = :kelas)
            AND (:status_any = 1 OR x.is_lunas IS :lunas)))
      AND (:scoped = 0 OR k.siswa_id IN (SELECT c.id FROM siswa AS c
              WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
                 OR c.TingkatDiniyah IN (:scope_diniyah)
                 OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
    LIMIT :cap) AS t

-- name: siswa_count_unit
SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM siswa AS d INDEXED BY siswa_list_unit_index
    WHERE d.UnitFormal = :unit
      AND (:unit IS NULL OR d.UnitFormal = :unit)
      AND (:kelas IS NULL OR d.KelasFormal = :kelas)
      AND (:status_any = 1 OR d.is_lunas IS :lunas)
      AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
              WHERE k1.siswa_id = d.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
      AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
              WHERE k2.siswa_id = d.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
      AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
              WHERE k3.siswa_id = d.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
      AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
              WHERE k4.siswa_id = d.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
      AND (:scoped = 0 OR d.id IN (SELECT c.id FROM siswa AS c
              WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
                 OR c.TingkatDiniyah IN (:scope_diniyah)
                 OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
    LIMIT :cap) AS t

-- name: siswa_count_status
SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM siswa AS d INDEXED BY siswa_list_status_index
    WHERE d.is_lunas IS :lunas
      AND (:unit IS NULL OR d.UnitFormal = :unit)
      AND (:kelas IS NULL OR d.KelasFormal = :kelas)
      AND (:status_any = 1 OR d.is_lunas IS :lunas)
      AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
              WHERE k1.siswa_id = d.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
      AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
              WHERE k2.siswa_id = d.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
      AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
              WHERE k3.siswa_id = d.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
      AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
              WHERE k4.siswa_id = d.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
      AND (:scoped = 0 OR d.id IN (SELECT c.id FROM siswa AS c
              WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
                 OR c.TingkatDiniyah IN (:scope_diniyah)
                 OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
    LIMIT :cap) AS t

-- name: siswa_page_kelas
SELECT d.id FROM siswa AS d INDEXED BY siswa_list_kelas_index
WHERE d.KelasFormal = :kelas
  AND (:unit IS NULL OR d.UnitFormal = :unit)
  AND (:kelas IS NULL OR d.KelasFormal = :kelas)
  AND (:status_any = 1 OR d.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = d.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = d.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = d.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = d.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR d.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY CASE WHEN :sort = 'tunggakan_desc' THEN d.total_tunggakan END DESC,
         CASE WHEN :sort = 'tunggakan_asc' THEN d.total_tunggakan END,
         CASE WHEN :sort = 'tunggakan_desc' THEN d.id END DESC,
         CASE WHEN :sort = 'nama' THEN d.nama END,
         d.id
LIMIT :limit OFFSET :offset

-- name: siswa_page_kata
SELECT x.id FROM (SELECT DISTINCT k.siswa_id AS id FROM siswa_kata AS k
      WHERE k.kata >= :w1 AND k.kata < :w1_end) AS d
CROSS JOIN siswa AS x INDEXED BY siswa_list_id_index
WHERE x.id = d.id
  AND (:unit IS NULL OR x.UnitFormal = :unit)
  AND (:kelas IS NULL OR x.KelasFormal = :kelas)
  AND (:status_any = 1 OR x.is_lunas IS :lunas)
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = x.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = x.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = x.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR x.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY CASE WHEN :sort = 'tunggakan_desc' THEN x.total_tunggakan END DESC,
         CASE WHEN :sort = 'tunggakan_asc' THEN x.total_tunggakan END,
         CASE WHEN :sort = 'tunggakan_desc' THEN x.id END DESC,
         CASE WHEN :sort = 'nama' THEN x.nama END,
         x.id
LIMIT :limit OFFSET :offset

-- name: siswa_kata_span
-- The first and last name word a search word starts (one and the same: siswa_page_kata_nama
-- can page it in name order).
SELECT (SELECT kata FROM siswa_kata WHERE kata >= :w1 AND kata < :w1_end
        ORDER BY kata LIMIT 1) AS lo,
       (SELECT kata FROM siswa_kata WHERE kata >= :w1 AND kata < :w1_end
        ORDER BY kata DESC LIMIT 1) AS hi

-- name: siswa_page_kata_nama
-- The students of one name word :kata, in name order, from siswa_kata_nama_index (0010):
-- a walk that stops once the page is full, the filters and other words checked per student.
SELECT k.siswa_id AS id FROM siswa_kata AS k INDEXED BY siswa_kata_nama_index
CROSS JOIN siswa AS x INDEXED BY siswa_list_id_index
WHERE k.kata = :kata AND x.id = k.siswa_id
  AND (:unit IS NULL OR x.UnitFormal = :unit)
  AND (:kelas IS NULL OR x.KelasFormal = :kelas)
  AND (:status_any = 1 OR x.is_lunas IS :lunas)
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = k.siswa_id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = k.siswa_id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = k.siswa_id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR x.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY k.nama, k.siswa_id
LIMIT :limit OFFSET :offset

-- name: siswa_page_unit
SELECT d.id FROM siswa AS d INDEXED BY siswa_list_unit_index
WHERE d.UnitFormal = :unit
  AND (:unit IS NULL OR d.UnitFormal = :unit)
  AND (:kelas IS NULL OR d.KelasFormal = :kelas)
  AND (:status_any = 1 OR d.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = d.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = d.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = d.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = d.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR d.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY CASE WHEN :sort = 'tunggakan_desc' THEN d.total_tunggakan END DESC,
         CASE WHEN :sort = 'tunggakan_asc' THEN d.total_tunggakan END,
         CASE WHEN :sort = 'tunggakan_desc' THEN d.id END DESC,
         CASE WHEN :sort = 'nama' THEN d.nama END,
         d.id
LIMIT :limit OFFSET :offset

-- name: siswa_page_status
SELECT d.id FROM siswa AS d INDEXED BY siswa_list_status_index
WHERE d.is_lunas IS :lunas
  AND (:unit IS NULL OR d.UnitFormal = :unit)
  AND (:kelas IS NULL OR d.KelasFormal = :kelas)
  AND (:status_any = 1 OR d.is_lunas IS :lunas)
  AND (:words < 1 OR EXISTS (SELECT 1 FROM siswa_kata AS k1
          WHERE k1.siswa_id = d.id AND k1.kata >= :w1 AND k1.kata < :w1_end))
  AND (:words < 2 OR EXISTS (SELECT 1 FROM siswa_kata AS k2
          WHERE k2.siswa_id = d.id AND k2.kata >= :w2 AND k2.kata < :w2_end))
  AND (:words < 3 OR EXISTS (SELECT 1 FROM siswa_kata AS k3
          WHERE k3.siswa_id = d.id AND k3.kata >= :w3 AND k3.kata < :w3_end))
  AND (:words < 4 OR EXISTS (SELECT 1 FROM siswa_kata AS k4
          WHERE k4.siswa_id = d.id AND k4.kata >= :w4 AND k4.kata < :w4_end))
  AND (:scoped = 0 OR d.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY CASE WHEN :sort = 'tunggakan_desc' THEN d.total_tunggakan END DESC,
         CASE WHEN :sort = 'tunggakan_asc' THEN d.total_tunggakan END,
         CASE WHEN :sort = 'tunggakan_desc' THEN d.id END DESC,
         CASE WHEN :sort = 'nama' THEN d.nama END,
         d.id
LIMIT :limit OFFSET :offset

-- name: siswa_page_scan_nama
SELECT s.id FROM siswa AS s INDEXED BY siswa_list_nama_index
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
LIMIT :limit OFFSET :offset

-- name: siswa_page_scan_tunggakan_desc
SELECT s.id FROM siswa AS s INDEXED BY siswa_list_tunggakan_index
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
ORDER BY s.total_tunggakan DESC, s.id DESC
LIMIT :limit OFFSET :offset

-- name: siswa_page_scan_tunggakan_asc
SELECT s.id FROM siswa AS s INDEXED BY siswa_list_tunggakan_index
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
ORDER BY s.total_tunggakan, s.id
LIMIT :limit OFFSET :offset

-- name: siswa_page_scan_synced_desc
SELECT s.id FROM siswa AS s INDEXED BY siswa_list_synced_index
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
ORDER BY s.synced_at DESC, s.id DESC
LIMIT :limit OFFSET :offset

-- name: siswa_list_rows
SELECT id, idperson, nama, UnitFormal, KelasFormal, total_tunggakan, is_lunas, synced_at,
       sync_error
FROM siswa
WHERE id IN (:ids)

-- name: siswa_unit_kelas
-- Every (unit, class) pair, skipping along siswa_list_unit_index: one seek per pair (the
-- class NULL for a unit whose students have none).
WITH RECURSIVE
units (unit) AS (
    SELECT MIN(UnitFormal) FROM siswa
    UNION ALL
    SELECT (SELECT MIN(s.UnitFormal) FROM siswa AS s WHERE s.UnitFormal > u.unit)
    FROM units AS u WHERE u.unit IS NOT NULL
),
pairs (unit, kelas) AS (
    SELECT u.unit, (SELECT MIN(s.KelasFormal) FROM siswa AS s WHERE s.UnitFormal = u.unit)
    FROM units AS u WHERE u.unit IS NOT NULL
    UNION ALL
    SELECT p.unit, (SELECT MIN(s.KelasFormal) FROM siswa AS s
                    WHERE s.UnitFormal = p.unit AND s.KelasFormal > p.kelas)
    FROM pairs AS p WHERE p.kelas IS NOT NULL
)
SELECT unit, kelas FROM pairs ORDER BY unit, kelas

-- name: siswa_asrama_values
-- The dormitories the roster names (the users page offers them as an officer's scope),
-- at most :limit of them, sorted.
SELECT DISTINCT AsramaPondok AS value
FROM siswa
WHERE AsramaPondok IS NOT NULL AND AsramaPondok <> ''
ORDER BY value
LIMIT :limit

-- name: siswa_diniyah_values
-- The diniyah levels the roster names (as siswa_asrama_values).
SELECT DISTINCT TingkatDiniyah AS value
FROM siswa
WHERE TingkatDiniyah IS NOT NULL AND TingkatDiniyah <> ''
ORDER BY value
LIMIT :limit

-- name: siswa_count_scoped
-- A scoped officer's list without a filter (issue #15): their students, up to :cap.
-- The scope's predicate is the same in every list query: :scoped = 0 for everyone
-- else (never evaluated), otherwise the ids of the students it covers (a unit, a
-- unit's class as unit + :scope_sep + class, a dormitory, a diniyah level).
SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM siswa AS s
    WHERE 1 = 1
      AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
              WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
                 OR c.TingkatDiniyah IN (:scope_diniyah)
                 OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
    LIMIT :cap) AS t

-- name: siswa_unit_kelas_scoped
-- The (unit, class) pairs of a scoped officer's students (the filter's choices).
SELECT DISTINCT s.UnitFormal AS unit, s.KelasFormal AS kelas
FROM siswa AS s
WHERE s.UnitFormal IS NOT NULL
  AND (:scoped = 0 OR s.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
ORDER BY unit, kelas

-- name: siswa_detail
SELECT id, idperson, nama, gender, UnitFormal, KelasFormal, AsramaPondok, KamarPondok,
       TingkatDiniyah, KelasDiniyah, pembayaran, synced_at, sync_error, total_tagihan,
       total_dibayar, total_tunggakan, total_kelebihan, is_lunas
FROM siswa
WHERE idperson = :idperson

-- name: siswa_history_of
-- The history of one student (migration 0015), newest first, from the (idperson, id)
-- index; run_found is NULL when the run of a change has been pruned (the line stays).
SELECT h.id, h.run_id, h.changed_at, h.tunggakan_before, h.tunggakan_after,
       h.kelebihan_before, h.kelebihan_after, h.lunas_before, h.lunas_after,
       r.id AS run_found
FROM siswa_history AS h
LEFT JOIN sync_runs AS r ON r.id = h.run_id
WHERE h.idperson = :idperson
ORDER BY h.id DESC
LIMIT :limit

-- --- Soft removal (siswa:import --prune; migration 0012) -------------------------------
-- A pruned student's row is moved whole to siswa_removed in the import's transaction
-- (roster_remove_forget, roster_remove_keep, then roster_delete); an import that lists
-- the idperson again moves it back (roster_restore, then roster_restore_forget) before
-- it compares the roster columns. The siswa triggers (0007, 0010) keep siswa_kata right.

-- name: roster_soft_removal
-- 1 once 0012 is applied (before, during an upgrade, siswa_removed does not exist).
SELECT COUNT(*) AS n FROM migrations WHERE migration = '0012_siswa_removed'

-- name: roster_removed_count
SELECT COUNT(*) AS n FROM siswa_removed

-- name: roster_remove_forget
-- An older copy of a student removed again (one that could not be restored).
DELETE FROM siswa_removed WHERE idperson IN (:ids)

-- name: roster_remove_keep
INSERT INTO siswa_removed (idperson, id, nama, gender, lahirtempat, lahirtanggal, phone, UnitFormal, KelasFormal, AsramaPondok,
    KamarPondok, TingkatDiniyah, KelasDiniyah, pembayaran, pembayaran_hash, synced_at,
    sync_error, total_tagihan, total_dibayar, total_tunggakan, total_kelebihan, is_lunas,
    created_at, updated_at, removed_at)
SELECT idperson, id, nama, gender, lahirtempat, lahirtanggal, phone, UnitFormal, KelasFormal, AsramaPondok,
    KamarPondok, TingkatDiniyah, KelasDiniyah, pembayaran, pembayaran_hash, synced_at,
    sync_error, total_tagihan, total_dibayar, total_tunggakan, total_kelebihan, is_lunas,
    created_at, updated_at, strftime('%Y-%m-%d %H:%M:%S', 'now')
FROM siswa
WHERE idperson IN (:ids)

-- name: roster_restore
-- Back with its id; never over a student that has the idperson or the id meanwhile.
INSERT INTO siswa (idperson, id, nama, gender, lahirtempat, lahirtanggal, phone, UnitFormal, KelasFormal, AsramaPondok,
    KamarPondok, TingkatDiniyah, KelasDiniyah, pembayaran, pembayaran_hash, synced_at,
    sync_error, total_tagihan, total_dibayar, total_tunggakan, total_kelebihan, is_lunas,
    created_at, updated_at)
SELECT r.idperson, r.id, r.nama, r.gender, r.lahirtempat, r.lahirtanggal, r.phone, r.UnitFormal, r.KelasFormal,
       r.AsramaPondok, r.KamarPondok, r.TingkatDiniyah, r.KelasDiniyah, r.pembayaran,
       r.pembayaran_hash, r.synced_at, r.sync_error, r.total_tagihan, r.total_dibayar,
       r.total_tunggakan, r.total_kelebihan, r.is_lunas, r.created_at, r.updated_at
FROM siswa_removed AS r
WHERE r.idperson IN (:ids)
  AND NOT EXISTS (SELECT 1 FROM siswa AS s WHERE s.idperson = r.idperson)
  AND NOT EXISTS (SELECT 1 FROM siswa AS s WHERE s.id = r.id)

-- name: roster_restore_forget
DELETE FROM siswa_removed
WHERE idperson IN (:ids)
  AND EXISTS (SELECT 1 FROM siswa AS s
              WHERE s.id = siswa_removed.id AND s.idperson = siswa_removed.idperson)
