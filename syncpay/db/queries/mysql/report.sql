-- The report (/admin/laporan; syncpay/students/report.py): counts and sums per unit and
-- class. MySQL/MariaDB. Every query name here exists for SQLite too (a test checks).
-- Read from siswa_report_index alone (migration 0016), in its order: one walk for the
-- whole school, one range for a unit. The stored totals and states only: nothing is
-- recomputed here (is_lunas NULL: never synced, its totals NULL and left out of the sums;
-- COUNT(is_lunas) counts the synced, SUM(is_lunas) the lunas).
-- DECIMAL sums are exact: the *_cents columns (SQLite's) are 0, and the *_exact queries
-- (SQLite's way to exact sums of amounts with cents) are the same as the others.

-- name: report_groups
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa FORCE INDEX (siswa_report_index)
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal

-- name: report_groups_unit
-- Grouped by class alone (the unit is one): MariaDB then reads the range in the index's
-- order, without a temporary table.
SELECT MIN(UnitFormal) AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa FORCE INDEX (siswa_report_index)
WHERE UnitFormal = :unit
GROUP BY KelasFormal
ORDER BY KelasFormal

-- name: report_groups_exact
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa FORCE INDEX (siswa_report_index)
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal

-- name: report_groups_unit_exact
-- Grouped by class alone (the unit is one): MariaDB then reads the range in the index's
-- order, without a temporary table.
SELECT MIN(UnitFormal) AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa FORCE INDEX (siswa_report_index)
WHERE UnitFormal = :unit
GROUP BY KelasFormal
ORDER BY KelasFormal

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
FROM siswa AS r FORCE INDEX (siswa_report_index)
WHERE (:unit IS NULL OR r.UnitFormal = :unit)
  AND (:scoped = 0 OR r.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR CONCAT(c.UnitFormal, :scope_sep, c.KelasFormal) IN (:scope_kelas)))
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal

-- name: report_groups_scoped_exact
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       COUNT(is_lunas) AS synced, SUM(is_lunas) AS lunas,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa AS r FORCE INDEX (siswa_report_index)
WHERE (:unit IS NULL OR r.UnitFormal = :unit)
  AND (:scoped = 0 OR r.id IN (SELECT c.id FROM siswa AS c
          WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
             OR c.TingkatDiniyah IN (:scope_diniyah)
             OR CONCAT(c.UnitFormal, :scope_sep, c.KelasFormal) IN (:scope_kelas)))
GROUP BY UnitFormal, KelasFormal
ORDER BY UnitFormal, KelasFormal
