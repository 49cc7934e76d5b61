-- MariaDB set-up for syncpay on several machines. See docs/deploy.md.
-- Run as the database administrator:  sudo mariadb < mariadb-syncpay.sql
-- Change the password and the network (10.0.0.%) to yours first.

CREATE DATABASE IF NOT EXISTS syncpay CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- One account for every syncpay machine (server and workers).
CREATE USER IF NOT EXISTS 'syncpay'@'10.0.0.%' IDENTIFIED BY 'change-this-password';
-- Data, plus what the migrations need (tables, indexes, triggers).
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, TRIGGER
    ON syncpay.* TO 'syncpay'@'10.0.0.%';

-- The same account for syncpay on the database machine itself (DB_HOST=127.0.0.1).
CREATE USER IF NOT EXISTS 'syncpay'@'127.0.0.1' IDENTIFIED BY 'change-this-password';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, TRIGGER
    ON syncpay.* TO 'syncpay'@'127.0.0.1';
