-- The worker pools alive now: each pool (a server's, `syncpay work`, `syncpay sync`'s
-- own) writes its row every few seconds and deletes it when it stops; a row whose
-- expires_at has passed is a pool that vanished (killed, its machine gone). A run's
-- progress says "waiting for a worker" when no live pool serves the run's queue.
-- Times: the database's clock, in whole seconds since the epoch.
CREATE TABLE IF NOT EXISTS workers (
    name VARCHAR(191) NOT NULL PRIMARY KEY,
    queues TEXT NOT NULL,
    slots INTEGER NOT NULL,
    seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS workers_expires_at_index ON workers (expires_at);
