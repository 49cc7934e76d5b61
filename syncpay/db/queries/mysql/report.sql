-- The report (/admin/laporan; syncpay/students/report.py): counts and sums per unit and
-- class. MySQL/MariaDB. Every query name here exists for SQLite too (a test checks).
-- Read from siswa_report_index alone (migration 0016), in its order: one walk for the
-- whole school, one range for a unit. The stored totals and states only: nothing is
-- recomputed here (is_lunas NULL: never synced, its totals NULL and left out of the sums).
-- DECIMAL sums are exact: the *_cents columns (SQLite's) are 0.

-- name: report_groups
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       SUM(CASE WHEN is_lunas = 1 THEN 1 ELSE 0 END) AS lunas,
       SUM(CASE WHEN is_lunas = 0 THEN 1 ELSE 0 END) AS belum_lunas,
       SUM(CASE WHEN is_lunas IS NULL THEN 1 ELSE 0 END) AS belum_sinkron,
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
       SUM(CASE WHEN is_lunas = 1 THEN 1 ELSE 0 END) AS lunas,
       SUM(CASE WHEN is_lunas = 0 THEN 1 ELSE 0 END) AS belum_lunas,
       SUM(CASE WHEN is_lunas IS NULL THEN 1 ELSE 0 END) AS belum_sinkron,
       SUM(total_tagihan) AS tagihan, 0 AS tagihan_cents,
       SUM(total_dibayar) AS dibayar, 0 AS dibayar_cents,
       SUM(total_tunggakan) AS tunggakan, 0 AS tunggakan_cents,
       SUM(total_kelebihan) AS kelebihan, 0 AS kelebihan_cents,
       MIN(synced_at) AS oldest, MAX(synced_at) AS newest
FROM siswa FORCE INDEX (siswa_report_index)
WHERE UnitFormal = :unit
GROUP BY KelasFormal
ORDER BY KelasFormal
