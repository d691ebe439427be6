-- The contact calendar's decreed days (chalicelib/contact_policy/calendar.py): cuti bersama
-- (collective leave decreed each year by the SKB, the joint decree of the Minister of Religious
-- Affairs, the Minister of Manpower and the Minister of Administrative Reform), and corrections:
-- a day off the holidays library does not have ('holiday'), or a library holiday the SKB moved
-- away from its date ('contact_day'). Staff change rows through PUT/DELETE
-- /v1/crm/contact-calendar/{day}; every change appends a row to contact_calendar_audit.
CREATE TABLE IF NOT EXISTS contact_calendar_day (
    day         DATE PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('cuti_bersama', 'holiday', 'contact_day')),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    source      TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 500),
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    changed_by  BIGINT  -- the staff key (partner_api_key.api_key_id); NULL: seeded by a migration
);

CREATE TABLE IF NOT EXISTS contact_calendar_audit (
    audit_id    BIGSERIAL PRIMARY KEY,
    day         DATE NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('set', 'clear')),
    before      JSONB,
    after       JSONB,
    api_key_id  BIGINT,
    reason      TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS contact_calendar_audit_day_idx ON contact_calendar_audit (day, at);

-- Cuti bersama 2025-2027 as decreed. Source of each date: the SKB of its year, as carried by the
-- holidays library 0.108 (Indonesia, category "government"), whose references are
-- setkab.go.id (2025: SKB 3 Menteri on 2025 national holidays and cuti bersama; 18 August 2025
-- added by the government's later decision), detik.com's list of the 2026 SKB, and setneg.go.id
-- (2027 SKB). tests/unit/test_contact_calendar.py keeps these rows equal to the library's.
INSERT INTO contact_calendar_day (day, kind, name, source) VALUES
    ('2025-01-28', 'cuti_bersama', 'Cuti Bersama Tahun Baru Imlek', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-03-28', 'cuti_bersama', 'Cuti Bersama Hari Suci Nyepi', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-04-02', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-04-03', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-04-04', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-04-07', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-05-13', 'cuti_bersama', 'Cuti Bersama Hari Raya Waisak', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-05-30', 'cuti_bersama', 'Cuti Bersama Kenaikan Yesus Kristus', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-06-09', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Adha', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2025-08-18', 'cuti_bersama', 'Cuti Bersama Hari Kemerdekaan Republik Indonesia', 'government decision of August 2025 (detik.com), via holidays 0.108'),
    ('2025-12-26', 'cuti_bersama', 'Cuti Bersama Hari Raya Natal', 'SKB 3 Menteri 2025 (setkab.go.id), via holidays 0.108'),
    ('2026-02-16', 'cuti_bersama', 'Cuti Bersama Tahun Baru Imlek', 'SKB 3 Menteri 2026 (detik.com), via holidays 0.108'),
    ('2026-03-18', 'cuti_bersama', 'Cuti Bersama Hari Suci Nyepi', 'SKB 3 Menteri 2026 (detik.com), via holidays 0.108'),
    ('2026-03-20', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2026 (detik.com), via holidays 0.108'),
    ('2026-03-23', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2026 (detik.com), via holidays 0.108'),
    ('2026-03-24', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2026 (detik.com), via holidays 0.108'),
    ('2026-05-15', 'cuti_bersama', 'Cuti Bersama Kenaikan Yesus Kristus', 'SKB 3 Menteri 2026 (detik.com), via holidays 0.108'),
    ('2026-05-28', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Adha', 'SKB 3 Menteri 2026 (detik.com), via holidays 0.108'),
    ('2026-12-24', 'cuti_bersama', 'Cuti Bersama Hari Raya Natal', 'SKB 3 Menteri 2026 (detik.com), via holidays 0.108'),
    ('2027-02-05', 'cuti_bersama', 'Cuti Bersama Tahun Baru Imlek', 'SKB 3 Menteri 2027 (setneg.go.id), via holidays 0.108'),
    ('2027-03-09', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2027 (setneg.go.id), via holidays 0.108'),
    ('2027-03-12', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2027 (setneg.go.id), via holidays 0.108'),
    ('2027-03-15', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Fitri', 'SKB 3 Menteri 2027 (setneg.go.id), via holidays 0.108'),
    ('2027-03-25', 'cuti_bersama', 'Cuti Bersama Wafat Yesus Kristus', 'SKB 3 Menteri 2027 (setneg.go.id), via holidays 0.108'),
    ('2027-05-18', 'cuti_bersama', 'Cuti Bersama Hari Raya Idul Adha', 'SKB 3 Menteri 2027 (setneg.go.id), via holidays 0.108'),
    ('2027-05-19', 'cuti_bersama', 'Cuti Bersama Hari Raya Waisak', 'SKB 3 Menteri 2027 (setneg.go.id), via holidays 0.108'),
    ('2027-12-24', 'cuti_bersama', 'Cuti Bersama Hari Raya Natal', 'SKB 3 Menteri 2027 (setneg.go.id), via holidays 0.108')
ON CONFLICT (day) DO NOTHING;

-- Do-not-contact flags of the source schema (report 000, tables loan and payment):
-- loan.is_ignore_calls ("status penolakan panggilan": the borrower refuses calls about this loan)
-- and payment.is_ptp_robocall_active ("status keaktifan nomor": whether robocalls use the payment's
-- promise-to-pay number; default true keeps a number that is set in use).
ALTER TABLE loan ADD COLUMN IF NOT EXISTS is_ignore_calls BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE payment ADD COLUMN IF NOT EXISTS is_ptp_robocall_active BOOLEAN NOT NULL DEFAULT TRUE;
