-- Core schema: the six tables of the source report (column names kept), plus partners,
-- product lines and the postal-code zone reference. Money is BIGINT rupiah everywhere.

CREATE TABLE IF NOT EXISTS partner (
    partner_id      INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    partner_type    TEXT NOT NULL DEFAULT 'lender',   -- lender | marketplace
    cdate           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- API keys are stored only as hashes (sha256 of the random key); the plain key is shown once.
CREATE TABLE IF NOT EXISTS partner_api_key (
    api_key_id      BIGSERIAL PRIMARY KEY,
    partner_id      INTEGER REFERENCES partner (partner_id),   -- NULL for staff keys
    scope           TEXT NOT NULL CHECK (scope IN ('partner', 'staff')),
    key_prefix      TEXT NOT NULL,                           -- first characters, for support
    key_hash        TEXT NOT NULL UNIQUE,
    cdate           TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at      TIMESTAMPTZ,
    CHECK ((scope = 'partner') = (partner_id IS NOT NULL))
);

CREATE TABLE IF NOT EXISTS product_line (
    product_line_code   INTEGER PRIMARY KEY,
    product_line_type   TEXT NOT NULL UNIQUE,
    product_family      TEXT NOT NULL,            -- JULO | PEDE
    name                TEXT NOT NULL
);

-- Two-digit postal-code prefix -> IANA zone. Rows are synced from chalicelib/zones.py by
-- the migration runner, so the Python table stays the single source of truth.
CREATE TABLE IF NOT EXISTS postcode_zone (
    prefix  CHAR(2) PRIMARY KEY,
    zone    TEXT NOT NULL CHECK (zone IN ('Asia/Jakarta', 'Asia/Makassar', 'Asia/Jayapura')),
    region  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS application (
    application_id          BIGINT PRIMARY KEY,
    application_xid         BIGINT NOT NULL UNIQUE,
    customer_id             BIGINT NOT NULL,
    partner_id              INTEGER REFERENCES partner (partner_id),
    product_line_code       INTEGER REFERENCES product_line (product_line_code),
    fullname                TEXT NOT NULL,
    email                   TEXT,
    mobile_phone_1          TEXT,
    has_whatsapp_1          BOOLEAN NOT NULL DEFAULT FALSE,
    address_kodepos         TEXT,
    loan_purpose            TEXT,
    loan_purpose_desc       TEXT,
    credit_grade            TEXT,
    bank_name               TEXT,
    bank_account_number     TEXT,
    name_in_bank            TEXT,
    application_status_code INTEGER NOT NULL,
    invoice_id              TEXT,          -- Bukalapak marketplace invoice, NULL otherwise
    is_deleted              BOOLEAN NOT NULL DEFAULT FALSE,
    cdate                   TIMESTAMPTZ NOT NULL DEFAULT now(),
    udate                   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS loan (
    loan_id                     BIGINT PRIMARY KEY,
    application_id              BIGINT NOT NULL REFERENCES application (application_id),
    customer_id                 BIGINT NOT NULL,
    application_xid             BIGINT,
    partner                     INTEGER REFERENCES partner (partner_id),
    loan_status_code            INTEGER NOT NULL,
    product_code                INTEGER REFERENCES product_line (product_line_code),
    loan_amount                 BIGINT NOT NULL CHECK (loan_amount > 0),
    loan_duration               INTEGER NOT NULL CHECK (loan_duration > 0),
    first_installment_amount    BIGINT,
    installment_amount          BIGINT NOT NULL,
    loan_disbursement_amount    BIGINT,
    loan_disbursement_method    TEXT,
    fund_transfer_ts            TIMESTAMPTZ,
    julo_bank_name              TEXT,
    julo_bank_account_number    TEXT,     -- virtual account the borrower pays into
    cycle_day                   INTEGER,
    disbursement_id             BIGINT,
    cdate                       TIMESTAMPTZ NOT NULL DEFAULT now(),
    udate                       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS payment (
    payment_id                  BIGINT PRIMARY KEY,
    loan_id                     BIGINT NOT NULL REFERENCES loan (loan_id),
    payment_number              INTEGER NOT NULL,
    payment_status_code         INTEGER NOT NULL,
    due_date                    DATE NOT NULL,
    due_amount                  BIGINT NOT NULL CHECK (due_amount >= 0),
    installment_principal       BIGINT NOT NULL,
    installment_interest        BIGINT NOT NULL,
    late_fee_amount             BIGINT NOT NULL DEFAULT 0,
    paid_date                   DATE,
    paid_amount                 BIGINT NOT NULL DEFAULT 0,
    paid_principal              BIGINT NOT NULL DEFAULT 0,
    paid_interest               BIGINT NOT NULL DEFAULT 0,
    paid_late_fee               BIGINT NOT NULL DEFAULT 0,
    is_robocall_active          BOOLEAN NOT NULL DEFAULT TRUE,
    is_success_robocall         BOOLEAN NOT NULL DEFAULT FALSE,
    is_whatsapp                 BOOLEAN NOT NULL DEFAULT FALSE,
    is_whatsapp_blasted         BOOLEAN NOT NULL DEFAULT FALSE,
    ptp_robocall_phone_number   TEXT,
    robocall_template_id        INTEGER,
    cdate                       TIMESTAMPTZ NOT NULL DEFAULT now(),
    udate                       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (loan_id, payment_number)
);

CREATE TABLE IF NOT EXISTS disbursement (
    disbursement_id     BIGINT PRIMARY KEY,
    loan_id             BIGINT NOT NULL UNIQUE REFERENCES loan (loan_id),
    disburse_status     TEXT NOT NULL CHECK (disburse_status IN ('INITIATED', 'PENDING', 'COMPLETED', 'FAILED')),
    disburse_amount     BIGINT NOT NULL CHECK (disburse_amount > 0),
    bank_code           TEXT,
    bank_number         TEXT,
    external_id         BIGINT,
    retry_times         INTEGER NOT NULL DEFAULT 0,
    validation_status   TEXT,
    cdate               TIMESTAMPTZ NOT NULL DEFAULT now(),
    udate               TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS repayment_transaction (
    repayment_transaction_id        BIGINT PRIMARY KEY,
    partner_id                      INTEGER REFERENCES partner (partner_id),
    customer_id                     BIGINT NOT NULL,
    loan_id                         BIGINT NOT NULL REFERENCES loan (loan_id),
    payment_id                      BIGINT NOT NULL REFERENCES payment (payment_id),
    event_date                      DATE NOT NULL,
    repayment_source                TEXT,
    borrower_repaid                 BIGINT NOT NULL,
    borrower_repaid_principal       BIGINT NOT NULL,
    borrower_repaid_interest        BIGINT NOT NULL,
    borrower_repaid_late_fee        BIGINT NOT NULL,
    lender_received                 BIGINT NOT NULL,
    lender_received_principal       BIGINT NOT NULL,
    lender_received_interest        BIGINT NOT NULL,
    lender_received_late_fee        BIGINT NOT NULL,
    julo_fee_received               BIGINT NOT NULL,
    julo_fee_received_principal     BIGINT NOT NULL,
    julo_fee_received_interest      BIGINT NOT NULL,
    julo_fee_received_late_fee      BIGINT NOT NULL,
    due_amount_before               BIGINT NOT NULL,
    due_amount_after                BIGINT NOT NULL,
    lender_balance_before           BIGINT NOT NULL,
    lender_balance_after            BIGINT NOT NULL,
    cdate                           TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- the lender / platform split must add up, component by component
    CHECK (borrower_repaid_principal = lender_received_principal + julo_fee_received_principal),
    CHECK (borrower_repaid_interest = lender_received_interest + julo_fee_received_interest),
    CHECK (borrower_repaid_late_fee = lender_received_late_fee + julo_fee_received_late_fee),
    CHECK (borrower_repaid = borrower_repaid_principal + borrower_repaid_interest + borrower_repaid_late_fee),
    CHECK (lender_received = lender_received_principal + lender_received_interest + lender_received_late_fee),
    CHECK (julo_fee_received = julo_fee_received_principal + julo_fee_received_interest + julo_fee_received_late_fee)
);

CREATE TABLE IF NOT EXISTS application_history (
    application_history_id  BIGSERIAL PRIMARY KEY,
    application_id          BIGINT NOT NULL REFERENCES application (application_id),
    status_old              INTEGER,
    status_new              INTEGER NOT NULL,
    change_reason           TEXT,
    cdate                   TIMESTAMPTZ NOT NULL DEFAULT now()
);
