-- The dormitory and the diniyah level as indexes (issue #15): an officer's scope may
-- name them (a scoped petugas's list, report and exports look students up by them), and
-- the users page offers their distinct values, read from the index instead of a scan of
-- the whole roster. The sync never writes these columns (only a roster import does), so
-- a sync pays nothing for them.
CREATE INDEX IF NOT EXISTS siswa_asrama_index ON siswa (AsramaPondok);
CREATE INDEX IF NOT EXISTS siswa_diniyah_index ON siswa (TingkatDiniyah);
