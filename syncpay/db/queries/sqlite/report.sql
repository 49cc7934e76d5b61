-- The report (/admin/laporan; syncpay/students/report.py): counts and sums per unit and
-- class. SQLite. Every query name here exists for MySQL too (a test checks).
-- Read from siswa_report_index alone (migration 0016), in its order: one walk for the
-- whole school, one range for a unit. The stored totals and states only: nothing is
-- recomputed here (is_lunas NULL: never synced, its totals NULL and left out of the sums).
--
-- A money column holds an INTEGER (whole rupiah) or a REAL (with cents): the sums are
-- taken in whole rupiah and in cents separately, both integers, so that they are exact
-- (a REAL sum over 100,000 students is not); report.py adds them as Decimals.

-- name: report_groups
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       SUM(CASE WHEN is_lunas = 1 THEN 1 ELSE 0 END) AS lunas,
       SUM(CASE WHEN is_lunas = 0 THEN 1 ELSE 0 END) AS belum_lunas,
       SUM(CASE WHEN is_lunas IS NULL THEN 1 ELSE 0 END) AS belum_sinkron,
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

-- name: report_groups_unit
SELECT UnitFormal AS unit, KelasFormal AS kelas, COUNT(*) AS students,
       SUM(CASE WHEN is_lunas = 1 THEN 1 ELSE 0 END) AS lunas,
       SUM(CASE WHEN is_lunas = 0 THEN 1 ELSE 0 END) AS belum_lunas,
       SUM(CASE WHEN is_lunas IS NULL THEN 1 ELSE 0 END) AS belum_sinkron,
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
