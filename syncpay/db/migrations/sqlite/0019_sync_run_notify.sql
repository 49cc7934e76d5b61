-- Which URLs to tell when the run ends (sync/notify.py): a short hash of each and the
-- queue, as JSON; NULL when none was configured at the start, or once the end has
-- queued them. It was a `cache` row, which `syncpay cache:clear` may empty mid-run. A
-- nullable column added at the end: SQLite only changes the schema.
ALTER TABLE sync_runs ADD COLUMN notify TEXT NULL;
