-- Which URLs to tell when the run ends (sync/notify.py): a short hash of each and the
-- queue, as JSON; NULL when none was configured at the start, or once the end has
-- queued them. It was a `cache` row, which `syncpay cache:clear` may empty mid-run.
-- IF NOT EXISTS: MariaDB commits DDL at once, so a migration cut off before it was
-- recorded runs again without an error.
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS notify TEXT NULL;
