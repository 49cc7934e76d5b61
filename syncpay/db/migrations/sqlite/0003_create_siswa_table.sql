-- Students (SPEC §3). Money in whole rupiah. is_lunas NULL = never synced.
CREATE TABLE IF NOT EXISTS siswa (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idperson VARCHAR(32) NOT NULL UNIQUE,
    nama VARCHAR(191) NOT NULL,
    gender CHAR(1) NULL CHECK (gender IN ('L', 'P')),
    lahirtempat VARCHAR(100) NULL,
    lahirtanggal DATE NULL,
    phone VARCHAR(32) NULL,
    UnitFormal VARCHAR(100) NULL,
    KelasFormal VARCHAR(100) NULL,
    AsramaPondok VARCHAR(100) NULL,
    KamarPondok VARCHAR(100) NULL,
    TingkatDiniyah VARCHAR(100) NULL,
    KelasDiniyah VARCHAR(100) NULL,
    pembayaran TEXT NULL CHECK (pembayaran IS NULL OR json_valid(pembayaran)),
    pembayaran_hash CHAR(64) NULL,
    synced_at DATETIME NULL,
    sync_error TEXT NULL,
    total_tagihan DECIMAL(15, 2) NULL,
    total_dibayar DECIMAL(15, 2) NULL,
    total_tunggakan DECIMAL(15, 2) NULL,
    total_kelebihan DECIMAL(15, 2) NULL,
    is_lunas BOOLEAN NULL,
    created_at DATETIME NULL,
    updated_at DATETIME NULL
);
CREATE INDEX IF NOT EXISTS siswa_nama_index ON siswa (nama);
CREATE INDEX IF NOT EXISTS siswa_unit_kelas_index ON siswa (UnitFormal, KelasFormal);
CREATE INDEX IF NOT EXISTS siswa_kelas_index ON siswa (KelasFormal);
CREATE INDEX IF NOT EXISTS siswa_lunas_tunggakan_index ON siswa (is_lunas, total_tunggakan);
CREATE INDEX IF NOT EXISTS siswa_tunggakan_index ON siswa (total_tunggakan);
