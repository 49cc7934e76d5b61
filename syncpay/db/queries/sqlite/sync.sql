-- Sync runs: start, dispatch, count, complete, cancel; the students they cover.
-- SQLite. Every query name here exists for MySQL too (a test checks).

-- name: sync_run_insert
-- The change summary starts at 0 (NULL only for the runs from before migration 0015).
INSERT INTO sync_runs (scope_type, scope, scope_label, status, active_all, total, sort_base,
                       started_by, started_at, became_lunas, became_belum_lunas,
                       first_synced, arrears_up, arrears_down, tunggakan_before,
                       tunggakan_after)
VALUES (:scope_type, :scope, :scope_label, 'running', :active_all, :total, :sort_base,
        :started_by, CAST(strftime('%s', 'now') AS INTEGER), 0, 0, 0, 0, 0, 0, 0)

-- name: sync_run_notify_set
-- The URLs to tell when the run ends (sync/notify.py), at its start.
UPDATE sync_runs SET notify = :plan WHERE id = :id

-- name: sync_run_notify_get
SELECT notify FROM sync_runs WHERE id = :id

-- name: sync_run_notify_clear
-- By the transaction that ends the run, with their jobs queued: once.
UPDATE sync_runs SET notify = NULL WHERE id = :id

-- name: sync_run_get
SELECT * FROM sync_runs WHERE id = :id

-- name: sync_run_latest
SELECT * FROM sync_runs WHERE cleared_at IS NULL ORDER BY id DESC LIMIT 1

-- name: sync_run_status
-- (MySQL locks the row here; SQLite's write transaction already excludes a cancel.)
SELECT status FROM sync_runs WHERE id = :id

-- name: sync_run_active_all
SELECT * FROM sync_runs WHERE active_all = 1

-- name: sync_runs_active
SELECT * FROM sync_runs WHERE status = 'running' ORDER BY id

-- name: sync_runs_active_locked
-- SQLite: the write transaction already excludes every other writer.
SELECT * FROM sync_runs WHERE status = 'running' ORDER BY id

-- name: sync_fence_share
-- SQLite: the write transaction already excludes every other writer.
SELECT name FROM sync_locks WHERE name = 'runs'

-- name: sync_fence_exclusive
SELECT name FROM sync_locks WHERE name = 'runs'

-- name: sync_runs_recent
SELECT * FROM sync_runs ORDER BY id DESC LIMIT :limit

-- name: sync_run_set_cursor
UPDATE sync_runs SET dispatch_cursor = :cursor WHERE id = :id AND status = 'running'

-- name: sync_run_dispatched
-- The total becomes exactly the students queued.
UPDATE sync_runs
SET dispatched = 1, total = (SELECT COUNT(*) FROM sync_run_items WHERE run_id = :id)
WHERE id = :id AND status = 'running' AND dispatched = 0

-- name: sync_run_count
-- A transaction's counts for one run, added once just before its COMMIT.
UPDATE sync_runs
SET processed = processed + :processed, failed = failed + :failed,
    unchanged = unchanged + :unchanged,
    -- the change summary (stays NULL for a run from before migration 0015)
    became_lunas = became_lunas + :became_lunas,
    became_belum_lunas = became_belum_lunas + :became_belum_lunas,
    first_synced = first_synced + :first_synced,
    arrears_up = arrears_up + :arrears_up, arrears_down = arrears_down + :arrears_down,
    tunggakan_before = tunggakan_before + :tunggakan_before,
    tunggakan_after = tunggakan_after + :tunggakan_after
WHERE id = :id AND status = 'running' AND processed + :processed <= total

-- name: sync_run_complete
UPDATE sync_runs SET status = 'completed', finished_at = CAST(strftime('%s', 'now') AS INTEGER), active_all = NULL
WHERE id = :id AND status = 'running' AND dispatched = 1 AND processed >= total

-- name: sync_run_cancel
UPDATE sync_runs SET status = 'cancelled', finished_at = CAST(strftime('%s', 'now') AS INTEGER), active_all = NULL
WHERE id = :id AND status = 'running'

-- name: sync_runs_clear
UPDATE sync_runs SET cleared_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE cleared_at IS NULL AND status <> 'running'

-- name: sync_items_queue_next
-- What a run covers is decided once, when it queues its students: the next :limit
-- students of the scope after the cursor, straight from siswa (no id goes through Python).
INSERT INTO sync_run_items (run_id, idperson, status, attempts, reason, finished_at)
SELECT :run_id, idperson, 'queued', 0, NULL, 0 FROM siswa
WHERE idperson > :cursor
  AND (:unit IS NULL OR UnitFormal = :unit) AND (:kelas IS NULL OR KelasFormal = :kelas)
ORDER BY idperson
LIMIT :limit
ON CONFLICT (run_id, idperson) DO NOTHING

-- name: sync_items_queue_ids
-- The same for a list of students: those of :ids that are students.
INSERT INTO sync_run_items (run_id, idperson, status, attempts, reason, finished_at)
SELECT :run_id, idperson, 'queued', 0, NULL, 0 FROM siswa
WHERE idperson IN (:ids)
ON CONFLICT (run_id, idperson) DO NOTHING

-- name: sync_items_chunk_end
-- The last student (and how many) of the chunk just queued: the dispatcher's next cursor.
SELECT MAX(idperson) AS last, COUNT(*) AS n FROM (
    SELECT idperson FROM sync_run_items
    WHERE run_id = :run_id AND idperson > :cursor
    ORDER BY idperson
    LIMIT :limit
) AS chunk

-- name: sync_items_count
SELECT COUNT(*) AS n FROM sync_run_items WHERE run_id = :run_id

-- name: sync_items_queued_for
-- The runs of :run_ids still waiting for the student, with the student's row (its
-- columns NULL when the student left the roster meanwhile).
SELECT i.run_id, s.idperson, s.nama, s.UnitFormal, s.KelasFormal, s.pembayaran_hash,
       s.sync_error, s.total_tunggakan, s.total_kelebihan, s.is_lunas
FROM sync_run_items i LEFT JOIN siswa s ON s.idperson = i.idperson
WHERE i.idperson = :idperson AND i.status = 'queued' AND i.run_id IN (:run_ids)

-- name: sync_items_queued_for_many
-- sync_items_queued_for for the students of a worker's round at once (item_idperson says
-- whose row it is). Through the primary key (one seek per run and student), never along
-- (run_id, status), which holds every student still queued: the unary + keeps the
-- planner off that index.
SELECT i.run_id, i.idperson AS item_idperson, s.idperson, s.nama, s.UnitFormal,
       s.KelasFormal, s.pembayaran_hash, s.sync_error, s.total_tunggakan, s.total_kelebihan,
       s.is_lunas
FROM sync_run_items i LEFT JOIN siswa s ON s.idperson = i.idperson
WHERE i.idperson IN (:idpersons) AND +i.status = 'queued' AND i.run_id IN (:run_ids)

-- name: sync_item_finish
-- From queued to its outcome, once: the row's status is the last guard of "counted once".
-- changed = 1 with the student's totals before and after when this sync changed them.
UPDATE sync_run_items
SET status = :status, attempts = :attempts, reason = :reason, finished_at = CAST(strftime('%s', 'now') AS INTEGER),
    changed = :changed, tunggakan_before = :tunggakan_before,
    tunggakan_after = :tunggakan_after, kelebihan_before = :kelebihan_before,
    kelebihan_after = :kelebihan_after, lunas_before = :lunas_before,
    lunas_after = :lunas_after
WHERE run_id = :run_id AND idperson = :idperson AND status = 'queued'

-- name: sync_items_finish_many
-- sync_item_finish for many items in one statement (Tx.execute_many: the VALUES group
-- repeats per item); the rows changed. On MySQL a round's items once its students are
-- settled, just before the COMMIT (their rows were read FOR UPDATE, so each is changed).
UPDATE sync_run_items
SET status = v.status, attempts = v.attempts, reason = v.reason,
    finished_at = CAST(strftime('%s', 'now') AS INTEGER), changed = v.changed, tunggakan_before = v.tunggakan_before,
    tunggakan_after = v.tunggakan_after, kelebihan_before = v.kelebihan_before,
    kelebihan_after = v.kelebihan_after, lunas_before = v.lunas_before,
    lunas_after = v.lunas_after
FROM (
    WITH v (run_id, idperson, status, attempts, reason, changed, tunggakan_before,
            tunggakan_after, kelebihan_before, kelebihan_after, lunas_before, lunas_after)
    AS (VALUES (:run_id, :idperson, :status, :attempts, :reason, :changed, :tunggakan_before,
                :tunggakan_after, :kelebihan_before, :kelebihan_after, :lunas_before,
                :lunas_after))
    SELECT * FROM v
) AS v
WHERE sync_run_items.run_id = v.run_id AND sync_run_items.idperson = v.idperson
  AND sync_run_items.status = 'queued'

-- name: siswa_history_insert
-- One line of a student's history: a sync changed its totals or state (issue #14).
INSERT INTO siswa_history (idperson, run_id, changed_at, tunggakan_before, tunggakan_after,
                           kelebihan_before, kelebihan_after, lunas_before, lunas_after)
VALUES (:idperson, :run_id, CAST(strftime('%s', 'now') AS INTEGER), :tunggakan_before, :tunggakan_after,
        :kelebihan_before, :kelebihan_after, :lunas_before, :lunas_after)

-- name: sync_items_changed
-- The students a run changed, with before and after, by idperson (index
-- sync_run_items_changed_index); the name from the roster (NULL when removed since).
SELECT i.idperson, s.nama, i.tunggakan_before, i.tunggakan_after, i.kelebihan_before,
       i.kelebihan_after, i.lunas_before, i.lunas_after
FROM sync_run_items i LEFT JOIN siswa s ON s.idperson = i.idperson
WHERE i.run_id = :run_id AND i.changed = 1
ORDER BY i.idperson
LIMIT :limit OFFSET :offset

-- name: sync_items_changed_count
SELECT COUNT(*) AS n FROM sync_run_items WHERE run_id = :run_id AND changed = 1

-- name: sync_item_note_error
-- A failed attempt's error, kept on the student's queued items (shown if it fails later).
UPDATE sync_run_items SET reason = :reason, attempts = :attempts
WHERE run_id IN (:run_ids) AND idperson = :idperson AND status = 'queued'

-- name: sync_item_last_error
SELECT reason FROM sync_run_items
WHERE run_id IN (:run_ids) AND idperson = :idperson AND status = 'queued' AND reason IS NOT NULL
ORDER BY run_id DESC
LIMIT 1

-- name: sync_items_queued_students
SELECT DISTINCT idperson FROM sync_run_items WHERE status = 'queued' AND run_id IN (:run_ids)

-- name: sync_items_failed
SELECT i.idperson, s.nama, i.reason, i.attempts, i.finished_at
FROM sync_run_items i LEFT JOIN siswa s ON s.idperson = i.idperson
WHERE i.run_id = :run_id AND i.status = 'failed'
ORDER BY i.finished_at, i.idperson
LIMIT :limit OFFSET :offset

-- name: sync_items_failed_ids
SELECT idperson FROM sync_run_items WHERE run_id = :run_id AND status = 'failed' ORDER BY idperson

-- name: sync_items_recent_count
SELECT COUNT(*) AS n FROM sync_run_items
WHERE run_id = :run_id AND finished_at >= CAST(strftime('%s', 'now') AS INTEGER) - :window

-- name: sync_item_retries
SELECT COALESCE(SUM(attempts - 1), 0) AS n FROM sync_run_items
WHERE run_id = :run_id AND status <> 'queued'

-- name: sync_log_insert
-- message: the Indonesian text; message_key / message_values: the catalogue's js.log.<key>
-- and its values (JSON), from which a page words the line in its own language.
INSERT INTO sync_logs (run_id, at, level, message, message_key, message_values)
VALUES (:run_id, CAST(strftime('%s', 'now') AS INTEGER), :level, :message, :key, :values)

-- name: sync_logs_latest
SELECT id, at, level, message, message_key, message_values FROM sync_logs
WHERE run_id = :run_id
ORDER BY id DESC
LIMIT :limit

-- name: sync_logs_after
-- Oldest first from :after, so a reader that follows the log misses no line.
SELECT id, at, level, message, message_key, message_values FROM sync_logs
WHERE run_id = :run_id AND id > :after
ORDER BY id
LIMIT :limit

-- name: sync_log_count
SELECT COUNT(*) AS n FROM sync_logs WHERE run_id = :run_id AND level = :level

-- name: sync_now
SELECT CAST(strftime('%s', 'now') AS INTEGER) AS now

-- name: siswa_count_scope
SELECT COUNT(*) AS n FROM siswa
WHERE (:unit IS NULL OR UnitFormal = :unit) AND (:kelas IS NULL OR KelasFormal = :kelas)

-- name: siswa_count_ids
SELECT COUNT(*) AS n FROM siswa WHERE idperson IN (:ids)

-- name: siswa_store_payment
UPDATE siswa
SET pembayaran = :pembayaran, pembayaran_hash = :hash,
    total_tagihan = :total_tagihan, total_dibayar = :total_dibayar,
    total_tunggakan = :total_tunggakan, total_kelebihan = :total_kelebihan,
    is_lunas = :is_lunas, synced_at = strftime('%Y-%m-%d %H:%M:%S', 'now'), sync_error = NULL, updated_at = strftime('%Y-%m-%d %H:%M:%S', 'now')
WHERE idperson = :idperson

-- name: siswa_mark_synced
UPDATE siswa SET synced_at = strftime('%Y-%m-%d %H:%M:%S', 'now'), sync_error = NULL WHERE idperson = :idperson

-- name: siswa_store_payments
-- siswa_store_payment for many students in one statement (Tx.execute_many).
UPDATE siswa
SET pembayaran = v.pembayaran, pembayaran_hash = v.hash,
    total_tagihan = v.total_tagihan, total_dibayar = v.total_dibayar,
    total_tunggakan = v.total_tunggakan, total_kelebihan = v.total_kelebihan,
    is_lunas = v.is_lunas, synced_at = strftime('%Y-%m-%d %H:%M:%S', 'now'), sync_error = NULL,
    updated_at = strftime('%Y-%m-%d %H:%M:%S', 'now')
FROM (
    WITH v (idperson, pembayaran, hash, total_tagihan, total_dibayar, total_tunggakan,
            total_kelebihan, is_lunas)
    AS (VALUES (:idperson, :pembayaran, :hash, :total_tagihan, :total_dibayar,
                :total_tunggakan, :total_kelebihan, :is_lunas))
    SELECT * FROM v
) AS v
WHERE siswa.idperson = v.idperson
-- name: siswa_mark_synced_many
UPDATE siswa SET synced_at = strftime('%Y-%m-%d %H:%M:%S', 'now'), sync_error = NULL WHERE idperson IN (:idpersons)

-- name: siswa_mark_error
UPDATE siswa SET sync_error = :reason WHERE idperson = :idperson

-- name: sync_min_pending_sort
SELECT MIN(sort_key) AS m FROM {jobs} WHERE queue = :queue AND reserved_at IS NULL

-- name: sync_student_jobs
SELECT id, unique_key FROM {jobs} WHERE queue = :queue AND unique_key LIKE 'siswa:%'

-- name: sync_jobs_delete
DELETE FROM {jobs} WHERE id IN (:ids)

-- name: sync_job_delete_key
DELETE FROM {jobs} WHERE unique_key = :key

-- name: sync_jobs_push_range
-- One student job per item the chunk (:cursor, :last] queued, as Queue.push_many with a
-- unique key would write it: the payload is the caller's template around the student's
-- JSON-quoted id, the uuid a per-chunk random head plus the row's number, and a student
-- already queued only moves forward (the lower sort key wins).
INSERT INTO {jobs} (queue, payload, attempts, reserved_at, available_at, created_at, sort_key,
                    unique_key)
SELECT :queue, :head || printf('%012x', n) || :middle || json_quote(idperson) || :tail, 0, NULL,
       CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER),
       :sort_key + n, :key_prefix || idperson
FROM (SELECT idperson, row_number() OVER (ORDER BY idperson) - 1 AS n
      FROM sync_run_items
      WHERE run_id = :run_id AND idperson > :cursor AND idperson <= :last AND status = 'queued'
     ) AS chunk
WHERE true
ON CONFLICT (unique_key) DO UPDATE SET sort_key = MIN(sort_key, excluded.sort_key)

-- name: sync_jobs_push_ids
-- The same for a chunk of a list of students.
INSERT INTO {jobs} (queue, payload, attempts, reserved_at, available_at, created_at, sort_key,
                    unique_key)
SELECT :queue, :head || printf('%012x', n) || :middle || json_quote(idperson) || :tail, 0, NULL,
       CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER),
       :sort_key + n, :key_prefix || idperson
FROM (SELECT idperson, row_number() OVER (ORDER BY idperson) - 1 AS n
      FROM sync_run_items
      WHERE run_id = :run_id AND idperson IN (:ids) AND status = 'queued'
     ) AS chunk
WHERE true
ON CONFLICT (unique_key) DO UPDATE SET sort_key = MIN(sort_key, excluded.sort_key)

-- name: sync_live_fingerprint
-- The live page's "has anything changed?" probe, polled while a page is open: the
-- active runs and the newest one (counters, status, reset), and the newest log line.
-- Index lookups only (status index, primary keys).
SELECT id, status, total, processed, failed, cleared_at,
       (SELECT MAX(id) FROM sync_logs) AS max_log
FROM sync_runs WHERE status = 'running'
UNION
SELECT id, status, total, processed, failed, cleared_at,
       (SELECT MAX(id) FROM sync_logs) AS max_log
FROM sync_runs WHERE id = (SELECT MAX(id) FROM sync_runs)

-- name: sync_scopes
-- The units and classes that exist, for the page's scope picker (index-only scan).
SELECT DISTINCT UnitFormal AS unit, KelasFormal AS kelas FROM siswa
WHERE UnitFormal IS NOT NULL OR KelasFormal IS NOT NULL
ORDER BY UnitFormal, KelasFormal

-- name: sync_run_retry_wait
-- The run's students waiting out a backoff (or a Retry-After): still queued for the run,
-- their job not taken and not due yet; and the seconds until the first is due.
SELECT COUNT(*) AS n,
       MIN(j.available_at) - CAST(strftime('%s', 'now') AS INTEGER) AS wait
FROM sync_run_items i JOIN {jobs} j ON j.unique_key = 'siswa:' || i.idperson
WHERE i.run_id = :run_id AND i.status = 'queued' AND j.queue = :queue
  AND j.reserved_at IS NULL AND j.available_at > CAST(strftime('%s', 'now') AS INTEGER)

-- --- Officer runs (issue #15): a scoped petugas's own students ---------------------
-- The students an officer's scope covers (the same predicate as the student list's,
-- siswa.sql): a unit, a unit's class as unit + :scope_sep + class, a dormitory, a
-- diniyah level.

-- name: siswa_count_officer
SELECT COUNT(*) AS n FROM siswa WHERE id IN (SELECT c.id FROM siswa AS c
    WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
       OR c.TingkatDiniyah IN (:scope_diniyah)
       OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas))

-- name: siswa_count_outside
-- The students of a unit / class scope that an officer's scope does not cover (0: the
-- officer may sync it). NOT IN over ids: a student whose columns are NULL counts.
SELECT COUNT(*) AS n FROM siswa AS s
WHERE (:unit IS NULL OR s.UnitFormal = :unit) AND (:kelas IS NULL OR s.KelasFormal = :kelas)
  AND s.id NOT IN (SELECT c.id FROM siswa AS c
      WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
         OR c.TingkatDiniyah IN (:scope_diniyah)
         OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas))

-- name: sync_items_queue_next_officer
-- sync_items_queue_next for an officer's run: the next :limit students it covers.
INSERT INTO sync_run_items (run_id, idperson, status, attempts, reason, finished_at)
SELECT :run_id, idperson, 'queued', 0, NULL, 0 FROM siswa
WHERE idperson > :cursor
  AND id IN (SELECT c.id FROM siswa AS c
      WHERE c.UnitFormal IN (:scope_units) OR c.AsramaPondok IN (:scope_asrama)
         OR c.TingkatDiniyah IN (:scope_diniyah)
         OR c.UnitFormal || :scope_sep || c.KelasFormal IN (:scope_kelas))
ORDER BY idperson
LIMIT :limit
ON CONFLICT (run_id, idperson) DO NOTHING

-- name: sync_run_latest_by
-- A scoped officer's page follows their own runs only: their newest (not reset).
SELECT * FROM sync_runs WHERE cleared_at IS NULL AND started_by = :started_by
ORDER BY id DESC LIMIT 1

-- name: sync_runs_recent_by
SELECT * FROM sync_runs WHERE started_by = :started_by ORDER BY id DESC LIMIT :limit
