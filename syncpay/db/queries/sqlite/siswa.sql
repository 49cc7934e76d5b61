-- The student roster (siswa:import, syncpay/sync/roster.py).
-- SQLite. Every query name here exists for MySQL too (a test checks).
-- Only the roster columns are written here: the sync columns (pembayaran, the totals,
-- is_lunas, synced_at, sync_error) belong to the sync. Timestamps: UTC, the database's
-- clock.

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
        strftime('%Y-%m-%d %H:%M:%S', 'now'), strftime('%Y-%m-%d %H:%M:%S', 'now'))
ON CONFLICT (idperson) DO UPDATE SET
    nama = excluded.nama, gender = excluded.gender, lahirtempat = excluded.lahirtempat,
    lahirtanggal = excluded.lahirtanggal, phone = excluded.phone,
    UnitFormal = excluded.UnitFormal, KelasFormal = excluded.KelasFormal,
    AsramaPondok = excluded.AsramaPondok, KamarPondok = excluded.KamarPondok,
    TingkatDiniyah = excluded.TingkatDiniyah, KelasDiniyah = excluded.KelasDiniyah,
    updated_at = excluded.updated_at

-- name: roster_idpersons
SELECT idperson FROM siswa ORDER BY idperson

-- name: roster_delete
DELETE FROM siswa WHERE idperson IN (:ids)
