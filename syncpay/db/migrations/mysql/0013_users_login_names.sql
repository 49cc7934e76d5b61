-- Login names in one form, compared exactly (issue #12 item 25). syncpay stores a user's
-- name trimmed, NFKC-normalised and case-folded (syncpay/accounts.py, login_name) and
-- looks it up in that form; the column compares bytes, so the collation no longer makes
-- `Ádmin`, `admin` + a zero-width space or `admin ` match `admin`. Names stored before
-- are lower-cased here (the unique key was case-insensitive, so no two collide); a
-- name SQL cannot bring to that form (fullwidth letters) is still found by syncpay.
UPDATE users SET name = LOWER(TRIM(name)) WHERE BINARY name <> BINARY LOWER(TRIM(name));
ALTER TABLE users MODIFY name VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
