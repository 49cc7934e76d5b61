-- The job queue: push, claim, settle, inspect; failed jobs.
-- MySQL / MariaDB (10.6+). Every query name here exists for SQLite too (a test checks).
-- Time: the database server's clock, in whole seconds since the epoch, so workers on
-- several machines agree on leases whatever their own clocks say.

-- name: push
INSERT INTO {jobs} (queue, payload, attempts, reserved_at, available_at, created_at, sort_key)
VALUES (:queue, :payload, 0, NULL, UNIX_TIMESTAMP() + :delay, UNIX_TIMESTAMP(), :sort_key)

-- name: push_unique
-- At most one queued job per unique_key: a second push keeps the queued job and moves
-- it forward to the lower sort key of the two.
INSERT INTO {jobs} (queue, payload, attempts, reserved_at, available_at, created_at, sort_key,
                    unique_key)
VALUES (:queue, :payload, 0, NULL, UNIX_TIMESTAMP() + :delay, UNIX_TIMESTAMP(), :sort_key,
        :unique_key)
ON DUPLICATE KEY UPDATE sort_key = LEAST(sort_key, VALUES(sort_key))

-- name: claim_available
-- SKIP LOCKED: workers on other machines pass over the rows this one is taking.
SELECT id, queue, payload, attempts, cut_offs FROM {jobs}
WHERE queue = :queue AND reserved_at IS NULL AND available_at <= UNIX_TIMESTAMP()
ORDER BY sort_key, id
LIMIT :limit
FOR UPDATE SKIP LOCKED

-- name: claim_expired
-- reserved_by: the lapsed lease, to tell whether its attempt had started (a cut-off).
SELECT id, queue, payload, attempts, cut_offs, reserved_by FROM {jobs}
WHERE queue = :queue AND reserved_at IS NOT NULL
  AND reserved_at <= UNIX_TIMESTAMP() - :retry_after
ORDER BY reserved_at
LIMIT :limit
FOR UPDATE SKIP LOCKED

-- name: reserve
-- MySQL assigns left to right, so reserved_by must read attempts before it changes.
-- A lapsed lease whose attempt had started (its token names the attempt written) was
-- cut off: counted first, before reserved_by and attempts change.
UPDATE {jobs} FORCE INDEX (PRIMARY)
SET cut_offs = cut_offs + CASE WHEN reserved_by LIKE CONCAT('%.', attempts) THEN 1 ELSE 0 END,
    reserved_by = CONCAT(:worker, '.', id, '.', attempts + 1),
    attempts = attempts + 1,
    reserved_at = UNIX_TIMESTAMP()
WHERE id IN (:ids)

-- name: reserve_ahead
-- Jobs claimed ahead of the free slots (prefetch): the same token, but the attempt is
-- not counted yet (release counts it): a worker killed before starting them spent none.
-- A lapsed lease whose attempt had started (its token names the attempt written) was
-- cut off: counted first, before reserved_by and attempts change.
UPDATE {jobs} FORCE INDEX (PRIMARY)
SET cut_offs = cut_offs + CASE WHEN reserved_by LIKE CONCAT('%.', attempts) THEN 1 ELSE 0 END,
    reserved_by = CONCAT(:worker, '.', id, '.', attempts + 1),
    reserved_at = UNIX_TIMESTAMP()
WHERE id IN (:ids)

-- name: count_started
-- A job claimed ahead has started: its attempt counts now (fenced by the lease). Once:
-- the token ends with the attempt it names, and a transaction run again after its
-- commit's answer was lost finds the attempt already written.
UPDATE {jobs} FORCE INDEX (PRIMARY) SET attempts = attempts + 1
WHERE id IN (:ids) AND reserved_by IN (:tokens) AND reserved_by LIKE CONCAT('%.', attempts + 1)

-- name: claim_own
-- The jobs a round of this worker reserved in a transaction whose commit's answer was
-- lost (the tag is unique to that round): taken as that round's claim.
SELECT id, queue, payload, attempts, cut_offs, reserved_by FROM {jobs}
WHERE reserved_by LIKE :pattern
ORDER BY sort_key, id

-- name: delete_held
-- Two statements, both through the primary key alone: the held rows are locked and
-- returned, then deleted. A DELETE … RETURNING takes no index hint, and when a round's
-- jobs are a good share of a small table (a run's end) the optimizer scans the table:
-- a scanning DELETE waits for every row another round holds, and two such rounds
-- deadlocked (issue #12, item 13). The multi-table form of DELETE takes the hint.
SELECT id FROM {jobs} FORCE INDEX (PRIMARY)
WHERE id IN (:ids) AND reserved_by IN (:tokens)
ORDER BY id
FOR UPDATE;
DELETE j FROM {jobs} AS j FORCE INDEX (PRIMARY)
WHERE j.id IN (:ids) AND j.reserved_by IN (:tokens)

-- name: release
-- :attempts is the attempt the token names: counted at the claim, or (a job claimed
-- ahead) counted here.
UPDATE {jobs}
SET reserved_at = NULL, reserved_by = NULL, attempts = :attempts - :refund,
    available_at = UNIX_TIMESTAMP() + :delay
WHERE id = :id AND reserved_by = :token

-- name: renew
UPDATE {jobs} FORCE INDEX (PRIMARY) SET reserved_at = UNIX_TIMESTAMP()
WHERE id IN (:ids) AND reserved_by IN (:tokens)

-- name: count_held
SELECT COUNT(*) AS n FROM {jobs} WHERE id IN (:ids) AND reserved_by IN (:tokens)

-- name: queue_stats
SELECT queue,
       SUM(CASE WHEN reserved_at IS NULL AND available_at <= n.now THEN 1 ELSE 0 END) AS `pending`,
       SUM(CASE WHEN reserved_at IS NULL AND available_at > n.now THEN 1 ELSE 0 END) AS `delayed`,
       SUM(CASE WHEN reserved_at IS NOT NULL THEN 1 ELSE 0 END) AS `reserved`,
       n.now - MIN(CASE WHEN reserved_at IS NULL AND available_at <= n.now
                        THEN available_at END) AS oldest_seconds
FROM {jobs}, (SELECT UNIX_TIMESTAMP() AS now) AS n
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
-- its last empty claim (ids only grow: AUTO_INCREMENT). The primary key's last entry
-- ("Select tables optimized away"): no rows read, no locks.
SELECT COALESCE(MAX(id), 0) AS mark FROM {jobs}

-- name: insert_failed
INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
VALUES (:uuid, :connection, :queue, :payload, :exception, UTC_TIMESTAMP())
ON DUPLICATE KEY UPDATE
    connection = VALUES(connection), queue = VALUES(queue), payload = VALUES(payload),
    exception = VALUES(exception), failed_at = VALUES(failed_at)

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
DELETE FROM failed_jobs WHERE failed_at < UTC_TIMESTAMP() - INTERVAL :seconds SECOND

-- name: metrics_queue_depth
-- For GET /metrics: jobs by queue and state, and the age of the oldest pending (ready,
-- unreserved) job, counted from when it became available.
SELECT queue,
       SUM(CASE WHEN reserved_at IS NULL AND available_at <= n.now THEN 1 ELSE 0 END) AS `pending`,
       SUM(CASE WHEN reserved_at IS NULL AND available_at > n.now THEN 1 ELSE 0 END) AS `delayed`,
       SUM(CASE WHEN reserved_at IS NOT NULL THEN 1 ELSE 0 END) AS `reserved`,
       COALESCE(n.now - MIN(CASE WHEN reserved_at IS NULL AND available_at <= n.now
                                 THEN available_at END), 0) AS oldest_pending_seconds
FROM {jobs}, (SELECT UNIX_TIMESTAMP() AS now) AS n
GROUP BY queue
ORDER BY queue
