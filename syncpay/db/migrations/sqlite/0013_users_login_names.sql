-- Login names in one form, compared exactly (issue #12 item 25). syncpay stores a user's
-- name trimmed, NFKC-normalised and case-folded (syncpay/accounts.py, login_name) and
-- looks it up in that form (SQLite compares names byte for byte already). Names stored
-- before are lower-cased here where no other name has that form already (of such a
-- pair, the one already in that form is the one that logs in); a name SQL cannot bring
-- to that form (letters beyond ASCII) is still found by syncpay.
UPDATE OR IGNORE users SET name = lower(trim(name)) WHERE name <> lower(trim(name));
