-- The student roster (siswa:import, syncpay/sync/roster.py).
-- MySQL / MariaDB (10.6+). Every query name here exists for SQLite too (a test checks).
-- Only the roster columns are written here: the sync columns (pembayaran, the totals,
-- is_lunas, synced_at, sync_error) belong to the sync. Timestamps: UTC, the database
-- server's clock.

-- name: roster_find
SELECT id, idperson, nama, gender, lahirtempat, lahirtanggal, phone, UnitFormal, KelasFormal,
       AsramaPondok, KamarPondok, TingkatDiniyah, KelasDiniyah
FROM siswa
WHERE idperson IN (:ids)

-- name: roster_upsert
INSERT INTO siswa (idperson, nama, gender, lahirtempat, lahirtanggal, phone, UnitFormal,
                   KelasFormal, AsramaPondok, KamarPondok, TingkatDiniyah, KelasDiniyah,
                   created_at, updated_at)
VALUES (:idperson, :nama, :gender, :lahirtempat, :lahirtanggal, :phone, :UnitFormal,
        :KelasFormal, :AsramaPondok, :KamarPondok, :TingkatDiniyah, :KelasDiniyah,
        UTC_TIMESTAMP(), UTC_TIMESTAMP())
ON DUPLICATE KEY UPDATE
    nama = VALUES(nama), gender = VALUES(gender), lahirtempat = VALUES(lahirtempat),
    lahirtanggal = VALUES(lahirtanggal), phone = VALUES(phone),
    UnitFormal = VALUES(UnitFormal), KelasFormal = VALUES(KelasFormal),
    AsramaPondok = VALUES(AsramaPondok), KamarPondok = VALUES(KamarPondok),
    TingkatDiniyah = VALUES(TingkatDiniyah), KelasDiniyah = VALUES(KelasDiniyah),
    updated_at = VALUES(updated_at)

-- name: roster_idpersons
SELECT idperson FROM siswa ORDER BY idperson

-- name: roster_delete
DELETE FROM siswa WHERE idperson IN (:ids)
