-- The worker pools alive now: each pool (a server's, `syncpay work`, `syncpay sync`'s
-- own) writes its row every few seconds and deletes it when it stops; a row whose
-- expires_at has passed is a pool that vanished (killed, its machine gone). A run's
-- progress says "waiting for a worker" when no live pool serves the run's queue.
-- Times: the database server's clock, in whole seconds since the epoch, so pools on
-- several machines agree whatever their own clocks say.
CREATE TABLE IF NOT EXISTS workers (
    name VARCHAR(191) NOT NULL PRIMARY KEY,
    queues TEXT NOT NULL,
    slots INT UNSIGNED NOT NULL,
    seen_at INT NOT NULL,
    expires_at INT NOT NULL,
    KEY workers_expires_at_index (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
