-- The activity log in the page's language: each line also keeps the catalogue key of its
-- template (js.log.<key> in syncpay/web/locale/*.json) and its values (a JSON object).
-- `message` stays the Indonesian text. Lines written before this migration keep NULL
-- and are shown as their `message`.
--
-- Nullable columns added at the end of the table: MariaDB adds them in place (instant
-- ALTER, no table copy), and a process of the previous version, which names its columns,
-- reads and writes the table as before. IF NOT EXISTS: MariaDB commits DDL at once, so a
-- migration cut off before it was recorded runs again without an error.
ALTER TABLE sync_logs
    ADD COLUMN IF NOT EXISTS message_key VARCHAR(64) NULL,
    ADD COLUMN IF NOT EXISTS message_values TEXT NULL;
