-- Push-notification catalogue read by the messaging-service endpoints
-- (GET /v1/pn/blast-titles, GET /v1/pn/redirect-pages). Reference data: add rows with a new
-- migration, the handlers only read the tables.

CREATE TABLE IF NOT EXISTS pn_blast_title (
    title       TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    sort_order  INTEGER NOT NULL,
    is_active   BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE IF NOT EXISTS pn_redirect_page (
    page        TEXT PRIMARY KEY,          -- the app's deep-link destination key
    label       TEXT NOT NULL,             -- what staff see when composing a notification
    sort_order  INTEGER NOT NULL,
    is_active   BOOLEAN NOT NULL DEFAULT TRUE
);

INSERT INTO pn_blast_title (title, description, sort_order) VALUES
    ('julo info', 'General information and announcements', 10),
    ('julo reminder', 'Payment and application reminders', 20),
    ('julo promo', 'Promotions and cashback offers', 30),
    ('julo update', 'App and product updates', 40)
ON CONFLICT (title) DO NOTHING;

INSERT INTO pn_redirect_page (page, label, sort_order) VALUES
    ('home', 'Beranda', 10),
    ('loan_activity', 'Aktivitas pinjaman', 20),
    ('payment_detail', 'Detail pembayaran', 30),
    ('payment_method', 'Cara bayar', 40),
    ('application_status', 'Status pengajuan', 50),
    ('promo', 'Promo', 60),
    ('referral', 'Ajak teman', 70),
    ('profile', 'Profil', 80),
    ('help_center', 'Pusat bantuan', 90)
ON CONFLICT (page) DO NOTHING;
