-- Retention (sync:prune, queue:prune-failed, the server's daily clean-up) and the
-- once-per-slot claims of scheduled work. Same names in both dialects (a test checks).

-- name: runs_prunable
SELECT id FROM sync_runs
WHERE status <> 'running' AND finished_at IS NOT NULL AND finished_at < CAST(strftime('%s', 'now') AS INTEGER) - :age
ORDER BY id LIMIT :limit

-- name: run_items_delete
DELETE FROM sync_run_items WHERE run_id IN (:ids)

-- name: run_logs_delete
DELETE FROM sync_logs WHERE run_id IN (:ids)

-- name: runs_delete
DELETE FROM sync_runs WHERE id IN (:ids) AND status <> 'running'

-- name: history_prunable
-- History lines older than :age seconds (the changed_at index), oldest first.
SELECT id FROM siswa_history
WHERE changed_at < CAST(strftime('%s', 'now') AS INTEGER) - :age
ORDER BY changed_at LIMIT :limit

-- name: history_delete
DELETE FROM siswa_history WHERE id IN (:ids)

-- name: cache_prune_expired
DELETE FROM cache WHERE expiration > 0 AND expiration <= CAST(strftime('%s', 'now') AS INTEGER)

-- name: slot_claim
INSERT INTO cache ("key", value, expiration) VALUES (:key, :value, CAST(strftime('%s', 'now') AS INTEGER) + :ttl)
ON CONFLICT ("key") DO NOTHING
