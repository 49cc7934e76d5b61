-- How many of a job's attempts were cut off: started, then its worker stopped (killed,
-- its machine gone) before it ended, so its lease lapsed and another worker took it.
-- Such an attempt is not one of the job's tries (it did not fail), but a job cut off as
-- many times as it has tries is failed: it may be what kills its workers.
ALTER TABLE {jobs} ADD COLUMN IF NOT EXISTS cut_offs INT UNSIGNED NOT NULL DEFAULT 0;
