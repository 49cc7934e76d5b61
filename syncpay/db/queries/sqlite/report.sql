-- The report (/admin/laporan; syncpay/students/report.py): counts and sums per unit and
-- class. SQLite. Every query name here exists for MySQL too (a test checks).
-- Read from siswa_report_index alone (migration 0016), in its order: one walk for the
-- whole school, one range for a unit. The stored totals and states only: nothing is
-- recomputed here (is_lunas NULL: never synced, its totals NULL and left out of the sums;
-- COUNT(is_lunas) counts the synced, SUM(is_lunas) the lunas).
--
-- A money column holds an INTEGER (whole rupiah: "150000.00" is stored as 150000) or a
-- REAL (an amount with cents). A sum of integers is exact, and what report.py uses; when
-- a sum comes back as a REAL (some student has cents), report.py asks the *_exact query
-- instead, which sums whole rupiah and cents apart, both integers (a REAL sum over
-- 100,000 students is not exact). The *_cents columns of the others are 0.

-- name: report_groups
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa INDEXED BY siswa_report_index
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal

-- name: report_groups_unit
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa INDEXED BY siswa_report_index
WHERE UnitFormal = :unit
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal

-- name: report_groups_exact
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(CAST(total_tagihan AS INTEGER)) AS tagihan,
       SUM(CAST(ROUND((total_tagihan - CAST(total_tagihan AS INTEGER)) * 100) AS INTEGER))
           AS tagihan_cents,
       SUM(CAST(total_dibayar AS INTEGER)) AS dibayar,
       SUM(CAST(ROUND((total_dibayar - CAST(total_dibayar AS INTEGER)) * 100) AS INTEGER))
           AS dibayar_cents,
       SUM(CAST(total_tunggakan AS INTEGER)) AS tunggakan,
       SUM(CAST(ROUND((total_tunggakan - CAST(total_tunggakan AS INTEGER)) * 100) AS INTEGER))
           AS tunggakan_cents,
       SUM(CAST(total_kelebihan AS INTEGER)) AS kelebihan,
       SUM(CAST(ROUND((total_kelebihan - CAST(total_kelebihan AS INTEGER)) * 100) AS INTEGER))
           AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa INDEXED BY siswa_report_index
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal

-- name: report_groups_unit_exact
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(CAST(total_tagihan AS INTEGER)) AS tagihan,
       SUM(CAST(ROUND((total_tagihan - CAST(total_tagihan AS INTEGER)) * 100) AS INTEGER))
           AS tagihan_cents,
       SUM(CAST(total_dibayar AS INTEGER)) AS dibayar,
       SUM(CAST(ROUND((total_dibayar - CAST(total_dibayar AS INTEGER)) * 100) AS INTEGER))
           AS dibayar_cents,
       SUM(CAST(total_tunggakan AS INTEGER)) AS tunggakan,
       SUM(CAST(ROUND((total_tunggakan - CAST(total_tunggakan AS INTEGER)) * 100) AS INTEGER))
           AS tunggakan_cents,
       SUM(CAST(total_kelebihan AS INTEGER)) AS kelebihan,
       SUM(CAST(ROUND((total_kelebihan - CAST(total_kelebihan AS INTEGER)) * 100) AS INTEGER))
           AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa INDEXED BY siswa_report_index
WHERE UnitFormal = :unit
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal

-- name: report_groups_scoped
-- A scoped officer's report (issue #15): the same sums over their students only (the
-- scope's predicate of siswa.sql), of the school or of :unit (NULL = every unit).
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa AS r INDEXED BY siswa_report_index
WHERE (:unit IS NULL OR r.UnitFormal = :unit)
  AND (:scoped = 0 OR r.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal

-- name: report_groups_scoped_exact
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(CAST(total_tagihan AS INTEGER)) AS tagihan,
       SUM(CAST(ROUND((total_tagihan - CAST(total_tagihan AS INTEGER)) * 100) AS INTEGER))
           AS tagihan_cents,
       SUM(CAST(total_dibayar AS INTEGER)) AS dibayar,
       SUM(CAST(ROUND((total_dibayar - CAST(total_dibayar AS INTEGER)) * 100) AS INTEGER))
           AS dibayar_cents,
       SUM(CAST(total_tunggakan AS INTEGER)) AS tunggakan,
       SUM(CAST(ROUND((total_tunggakan - CAST(total_tunggakan AS INTEGER)) * 100) AS INTEGER))
           AS tunggakan_cents,
       SUM(CAST(total_kelebihan AS INTEGER)) AS kelebihan,
       SUM(CAST(ROUND((total_kelebihan - CAST(total_kelebihan AS INTEGER)) * 100) AS INTEGER))
           AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa AS r INDEXED BY siswa_report_index
WHERE (:unit IS NULL OR r.UnitFormal = :unit)
  AND (:scoped = 0 OR r.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas)))
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal
