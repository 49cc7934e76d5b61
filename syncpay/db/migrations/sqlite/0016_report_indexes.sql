-- The report (/admin/laporan, issue #14): its sums per unit and class come from this one
-- index, never from the rows (which carry the whole payment answer, several KB each).
-- Its order is the report's GROUP BY (unit, then class), so a whole school is one walk
-- along it and a unit one range of it; the state and the four stored totals and the
-- last sync time follow, so each group is counted and summed in the index itself.
-- (synced_at is in it: a sync that stores new totals writes this index's entry anyway,
-- one more index entry per student synced.)
CREATE INDEX IF NOT EXISTS siswa_report_index
    ON siswa (UnitFormal, KelasFormal, is_lunas, total_tagihan, total_dibayar,
              total_tunggakan, total_kelebihan, synced_at);
