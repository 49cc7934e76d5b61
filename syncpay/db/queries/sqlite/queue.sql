-- The job queue: push, claim, settle, inspect; failed jobs.
-- SQLite. Every query name here exists for MySQL too (a test checks).
-- Time: the database's clock, in whole seconds since the epoch (Laravel's columns).

-- name: push
INSERT INTO {jobs} (queue, payload, attempts, reserved_at, available_at, created_at, sort_key)
VALUES (:queue, :payload, 0, NULL,
        CAST(strftime('%s', 'now') AS INTEGER) + :delay,
        CAST(strftime('%s', 'now') AS INTEGER), :sort_key)

-- name: push_unique
-- At most one queued job per unique_key: a second push keeps the queued job and moves
-- it forward to the lower sort key of the two.
INSERT INTO {jobs} (queue, payload, attempts, reserved_at, available_at, created_at, sort_key,
                    unique_key)
VALUES (:queue, :payload, 0, NULL,
        CAST(strftime('%s', 'now') AS INTEGER) + :delay,
        CAST(strftime('%s', 'now') AS INTEGER), :sort_key, :unique_key)
ON CONFLICT (unique_key) DO UPDATE SET sort_key = MIN(sort_key, excluded.sort_key)

-- name: claim_available
-- No row locks in SQLite: the claim runs inside BEGIN IMMEDIATE (one writer at a time).
SELECT id, queue, payload, attempts, cut_offs FROM {jobs}
WHERE queue = :queue AND reserved_at IS NULL
  AND available_at <= CAST(strftime('%s', 'now') AS INTEGER)
ORDER BY sort_key, id
LIMIT :limit

-- name: claim_expired
-- reserved_by: the lapsed lease, to tell whether its attempt had started (a cut-off).
SELECT id, queue, payload, attempts, cut_offs, reserved_by FROM {jobs}
WHERE queue = :queue AND reserved_at IS NOT NULL
  AND reserved_at <= CAST(strftime('%s', 'now') AS INTEGER) - :retry_after
ORDER BY reserved_at
LIMIT :limit

-- name: reserve
-- The lease token names the worker, the job and the attempt, so a fence on it is exact.
-- A lapsed lease whose attempt had started (its token names the attempt written) was
-- cut off: counted first, before reserved_by and attempts change.
UPDATE {jobs}
SET cut_offs = cut_offs + CASE WHEN reserved_by LIKE '%.' || attempts THEN 1 ELSE 0 END,
    reserved_by = :worker || '.' || id || '.' || (attempts + 1),
    attempts = attempts + 1,
    reserved_at = CAST(strftime('%s', 'now') AS INTEGER)
WHERE id IN (:ids)

-- name: reserve_ahead
-- Jobs claimed ahead of the free slots (prefetch): the same token, but the attempt is
-- not counted yet (release counts it): a worker killed before starting them spent none.
-- A lapsed lease whose attempt had started (its token names the attempt written) was
-- cut off: counted first, before reserved_by and attempts change.
UPDATE {jobs}
SET cut_offs = cut_offs + CASE WHEN reserved_by LIKE '%.' || attempts THEN 1 ELSE 0 END,
    reserved_by = :worker || '.' || id || '.' || (attempts + 1),
    reserved_at = CAST(strftime('%s', 'now') AS INTEGER)
WHERE id IN (:ids)

-- name: count_started
-- A job claimed ahead has started: its attempt counts now (fenced by the lease). Once:
-- the token ends with the attempt it names, and a transaction run again after its
-- commit's answer was lost finds the attempt already written.
UPDATE {jobs} SET attempts = attempts + 1
WHERE id IN (:ids) AND reserved_by IN (:tokens) AND reserved_by LIKE '%.' || (attempts + 1)

-- name: claim_own
-- The jobs a round of this worker reserved in a transaction whose commit's answer was
-- lost (the tag is unique to that round): taken as that round's claim.
SELECT id, queue, payload, attempts, cut_offs, reserved_by FROM {jobs}
WHERE reserved_by LIKE :pattern
ORDER BY sort_key, id

-- name: delete_held
DELETE FROM {jobs} WHERE id IN (:ids) AND reserved_by IN (:tokens) RETURNING id

-- name: release
-- :attempts is the attempt the token names: counted at the claim, or (a job claimed
-- ahead) counted here.
UPDATE {jobs}
SET reserved_at = NULL, reserved_by = NULL, attempts = :attempts - :refund,
    available_at = CAST(strftime('%s', 'now') AS INTEGER) + :delay
WHERE id = :id AND reserved_by = :token

-- name: renew
UPDATE {jobs} SET reserved_at = CAST(strftime('%s', 'now') AS INTEGER)
WHERE id IN (:ids) AND reserved_by IN (:tokens)

-- name: count_held
SELECT COUNT(*) AS n FROM {jobs} WHERE id IN (:ids) AND reserved_by IN (:tokens)

-- name: queue_stats
SELECT queue,
       SUM(CASE WHEN reserved_at IS NULL AND available_at <= n.now THEN 1 ELSE 0 END) AS pending,
       SUM(CASE WHEN reserved_at IS NULL AND available_at > n.now THEN 1 ELSE 0 END) AS delayed,
       SUM(CASE WHEN reserved_at IS NOT NULL THEN 1 ELSE 0 END) AS reserved,
       n.now - MIN(CASE WHEN reserved_at IS NULL AND available_at <= n.now
                        THEN available_at END) AS oldest_seconds
FROM {jobs}, (SELECT CAST(strftime('%s', 'now') AS INTEGER) AS now) AS n
GROUP BY queue
ORDER BY queue

-- name: clear_queue
DELETE FROM {jobs} WHERE queue = :queue

-- name: clear_all_queues
DELETE FROM {jobs}

-- name: count_jobs
SELECT COUNT(*) AS n FROM {jobs}

-- name: jobs_mark
-- The newest job's id: an idle worker's watch compares it with the one read before
-- its last empty claim (ids only grow: AUTOINCREMENT). Read from the primary key's
-- last entry, in a few microseconds.
SELECT COALESCE(MAX(id), 0) AS mark FROM {jobs}

-- name: insert_failed
INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
VALUES (:uuid, :connection, :queue, :payload, :exception, strftime('%Y-%m-%d %H:%M:%S', 'now'))
ON CONFLICT (uuid) DO UPDATE SET
    connection = excluded.connection, queue = excluded.queue, payload = excluded.payload,
    exception = excluded.exception, failed_at = excluded.failed_at

-- name: failed_list
SELECT id, uuid, connection, queue, payload, exception, failed_at FROM failed_jobs ORDER BY id

-- name: failed_find
SELECT id, uuid, connection, queue, payload, exception, failed_at FROM failed_jobs
WHERE id IN (:ids) OR uuid IN (:uuids)
ORDER BY id

-- name: failed_in_queue
SELECT id, uuid, connection, queue, payload, exception, failed_at FROM failed_jobs
WHERE queue = :queue
ORDER BY id

-- name: failed_delete
DELETE FROM failed_jobs WHERE id IN (:ids)

-- name: failed_ids_of
-- The failed jobs of one job name whose payload ends with the given data (the patterns
-- come from failed.forget_patterns, `!` escaping). A scan of failed_jobs: for callers that
-- know there is something to find (the sync: a student whose last sync failed).
SELECT id FROM failed_jobs
WHERE payload LIKE :job ESCAPE '!' AND payload LIKE :data ESCAPE '!'
ORDER BY id

-- name: failed_flush_all
DELETE FROM failed_jobs

-- name: failed_flush_older
DELETE FROM failed_jobs
WHERE failed_at < strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || :seconds || ' seconds')

-- name: metrics_queue_depth
-- For GET /metrics: jobs by queue and state, and the age of the oldest pending (ready,
-- unreserved) job, counted from when it became available.
SELECT queue,
       SUM(CASE WHEN reserved_at IS NULL AND available_at <= n.now THEN 1 ELSE 0 END) AS pending,
       SUM(CASE WHEN reserved_at IS NULL AND available_at > n.now THEN 1 ELSE 0 END) AS delayed,
       SUM(CASE WHEN reserved_at IS NOT NULL THEN 1 ELSE 0 END) AS reserved,
       COALESCE(n.now - MIN(CASE WHEN reserved_at IS NULL AND available_at <= n.now
                                 THEN available_at END), 0) AS oldest_pending_seconds
FROM {jobs}, (SELECT CAST(strftime('%s', 'now') AS INTEGER) AS now) AS n
GROUP BY queue
ORDER BY queue
