-- Students removed by `siswa:import --prune`, kept whole: every column of their siswa
-- row (the synced payment answer and totals too) and when they were removed. No page
-- reads this table. An import that lists a removed student again moves the row back
-- into siswa (the same id; AUTO_INCREMENT never hands an id out twice), and the triggers
-- of 0007/0010 give it its search words again (they were deleted with the row).
-- sync_run_items name students by idperson and are history: they stay as they are.
CREATE TABLE IF NOT EXISTS siswa_removed (
    idperson VARCHAR(32) NOT NULL,
    id BIGINT UNSIGNED NOT NULL,
    nama VARCHAR(191) NOT NULL,
    gender CHAR(1) NULL,
    lahirtempat VARCHAR(100) NULL,
    lahirtanggal DATE NULL,
    phone VARCHAR(32) NULL,
    UnitFormal VARCHAR(100) NULL,
    KelasFormal VARCHAR(100) NULL,
    AsramaPondok VARCHAR(100) NULL,
    KamarPondok VARCHAR(100) NULL,
    TingkatDiniyah VARCHAR(100) NULL,
    KelasDiniyah VARCHAR(100) NULL,
    pembayaran JSON NULL,
    pembayaran_hash CHAR(64) NULL,
    synced_at DATETIME NULL,
    sync_error TEXT NULL,
    total_tagihan DECIMAL(15, 2) NULL,
    total_dibayar DECIMAL(15, 2) NULL,
    total_tunggakan DECIMAL(15, 2) NULL,
    total_kelebihan DECIMAL(15, 2) NULL,
    is_lunas TINYINT(1) NULL,
    created_at DATETIME NULL,
    updated_at DATETIME NULL,
    removed_at DATETIME NOT NULL,
    PRIMARY KEY (idperson),
    KEY siswa_removed_at_index (removed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
