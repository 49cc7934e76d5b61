-- The activity log in the page's language: each line also keeps the catalogue key of its
-- template (js.log.<key> in syncpay/web/locale/*.json) and its values (a JSON object).
-- `message` stays the Indonesian text. Lines written before this migration keep NULL
-- and are shown as their `message`.
--
-- Nullable columns added at the end: SQLite only changes the schema (no row is
-- rewritten), in the same transaction that records the migration; a process of the
-- previous version, which names its columns, reads and writes the table as before.
ALTER TABLE sync_logs ADD COLUMN message_key VARCHAR(64) NULL;
ALTER TABLE sync_logs ADD COLUMN message_values TEXT NULL;
