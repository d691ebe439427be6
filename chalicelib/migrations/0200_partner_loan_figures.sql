-- Follow-the-Money rollup: one row per loan with the ledger sums the partner views read.
--
-- The partner summary sums this table for one partner (one row per loan: 200,000 rows for a
-- big partner instead of 1,000,000 repayment transactions), and the report page joins it per
-- application. It is kept exact by statement-level triggers (set-based, with transition
-- tables, so a COPY of a million repayments updates each loan once), in the same transaction
-- as the change: a new repayment is visible in the views as soon as it commits.
--
--   partner_id     = application.partner_id of the loan's application (the partner's book)
--   disbursement   = Σ disburse_amount of the loan's COMPLETED disbursement(s)
--   principal ...  = Σ lender_received_principal / _interest / _late_fee
--   fee            = Σ julo_fee_received
-- Outstanding is derived when read: disbursed loans only, loan_amount − principal, never < 0.

CREATE TABLE IF NOT EXISTS partner_loan_figures (
    loan_id         BIGINT PRIMARY KEY REFERENCES loan (loan_id) ON DELETE CASCADE,
    application_id  BIGINT NOT NULL,
    partner_id      INTEGER,
    loan_amount     BIGINT NOT NULL,
    disbursed       BOOLEAN NOT NULL DEFAULT FALSE,
    disbursement    BIGINT NOT NULL DEFAULT 0,
    principal       BIGINT NOT NULL DEFAULT 0,
    interest        BIGINT NOT NULL DEFAULT 0,
    late_fee        BIGINT NOT NULL DEFAULT 0,
    fee             BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS partner_loan_figures_partner_idx
    ON partner_loan_figures (partner_id)
    INCLUDE (loan_amount, disbursed, disbursement, principal, interest, late_fee, fee);
CREATE INDEX IF NOT EXISTS partner_loan_figures_application_idx ON partner_loan_figures (application_id);

-- loans -----------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION plf_loan_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_loan_figures (loan_id, application_id, partner_id, loan_amount)
    SELECT n.loan_id, n.application_id, a.partner_id, n.loan_amount
    FROM new_rows n JOIN application a ON a.application_id = n.application_id
    ON CONFLICT (loan_id) DO UPDATE
        SET application_id = EXCLUDED.application_id, partner_id = EXCLUDED.partner_id,
            loan_amount = EXCLUDED.loan_amount;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION plf_loan_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partner_loan_figures f
    SET application_id = n.application_id, partner_id = a.partner_id, loan_amount = n.loan_amount
    FROM new_rows n JOIN application a ON a.application_id = n.application_id
    WHERE f.loan_id = n.loan_id
      AND (f.application_id, f.partner_id, f.loan_amount)
          IS DISTINCT FROM (n.application_id, a.partner_id, n.loan_amount);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS plf_loan_insert ON loan;
CREATE TRIGGER plf_loan_insert AFTER INSERT ON loan
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION plf_loan_inserted();
DROP TRIGGER IF EXISTS plf_loan_update ON loan;
CREATE TRIGGER plf_loan_update AFTER UPDATE ON loan
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION plf_loan_updated();

-- an application moving to another partner moves its loans' figures with it
CREATE OR REPLACE FUNCTION plf_application_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partner_loan_figures f SET partner_id = n.partner_id
    FROM new_rows n
    WHERE f.application_id = n.application_id AND f.partner_id IS DISTINCT FROM n.partner_id;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS plf_application_update ON application;
CREATE TRIGGER plf_application_update AFTER UPDATE ON application
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION plf_application_updated();

-- disbursements: recompute the touched loans (at most one disbursement per loan) ------------
CREATE OR REPLACE FUNCTION plf_refresh_disbursement(loan_ids BIGINT[]) RETURNS void LANGUAGE sql AS $$
    UPDATE partner_loan_figures f
    SET disbursed = COALESCE(d.completed, FALSE), disbursement = COALESCE(d.amount, 0)
    FROM (SELECT u.loan_id,
                 bool_or(dd.disburse_status = 'COMPLETED') AS completed,
                 SUM(dd.disburse_amount) FILTER (WHERE dd.disburse_status = 'COMPLETED') AS amount
          FROM unnest(loan_ids) AS u (loan_id)
          LEFT JOIN disbursement dd ON dd.loan_id = u.loan_id
          GROUP BY u.loan_id) d
    WHERE f.loan_id = d.loan_id
      AND (f.disbursed, f.disbursement) IS DISTINCT FROM (COALESCE(d.completed, FALSE), COALESCE(d.amount, 0));
$$;

CREATE OR REPLACE FUNCTION plf_disbursement_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM plf_refresh_disbursement(ARRAY(SELECT DISTINCT loan_id FROM new_rows));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION plf_disbursement_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM plf_refresh_disbursement(ARRAY(
        SELECT loan_id FROM new_rows UNION SELECT loan_id FROM old_rows));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION plf_disbursement_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM plf_refresh_disbursement(ARRAY(SELECT DISTINCT loan_id FROM old_rows));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION plf_disbursement_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partner_loan_figures SET disbursed = FALSE, disbursement = 0
    WHERE disbursed OR disbursement <> 0;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS plf_disbursement_insert ON disbursement;
CREATE TRIGGER plf_disbursement_insert AFTER INSERT ON disbursement
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION plf_disbursement_inserted();
DROP TRIGGER IF EXISTS plf_disbursement_update ON disbursement;
CREATE TRIGGER plf_disbursement_update AFTER UPDATE ON disbursement
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION plf_disbursement_updated();
DROP TRIGGER IF EXISTS plf_disbursement_delete ON disbursement;
CREATE TRIGGER plf_disbursement_delete AFTER DELETE ON disbursement
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION plf_disbursement_deleted();
DROP TRIGGER IF EXISTS plf_disbursement_truncate ON disbursement;
CREATE TRIGGER plf_disbursement_truncate AFTER TRUNCATE ON disbursement
    FOR EACH STATEMENT EXECUTE FUNCTION plf_disbursement_truncated();

-- repayment transactions: add the statement's net change per loan ---------------------------
CREATE OR REPLACE FUNCTION plf_apply_repayment_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_OP decides which transition tables exist; the sign makes deletes subtract
    IF TG_OP = 'INSERT' THEN
        UPDATE partner_loan_figures f
        SET principal = f.principal + d.principal, interest = f.interest + d.interest,
            late_fee = f.late_fee + d.late_fee, fee = f.fee + d.fee
        FROM (SELECT loan_id, SUM(lender_received_principal) AS principal,
                     SUM(lender_received_interest) AS interest, SUM(lender_received_late_fee) AS late_fee,
                     SUM(julo_fee_received) AS fee
              FROM new_rows GROUP BY loan_id) d
        WHERE f.loan_id = d.loan_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE partner_loan_figures f
        SET principal = f.principal - d.principal, interest = f.interest - d.interest,
            late_fee = f.late_fee - d.late_fee, fee = f.fee - d.fee
        FROM (SELECT loan_id, SUM(lender_received_principal) AS principal,
                     SUM(lender_received_interest) AS interest, SUM(lender_received_late_fee) AS late_fee,
                     SUM(julo_fee_received) AS fee
              FROM old_rows GROUP BY loan_id) d
        WHERE f.loan_id = d.loan_id;
    ELSE
        UPDATE partner_loan_figures f
        SET principal = f.principal + d.principal, interest = f.interest + d.interest,
            late_fee = f.late_fee + d.late_fee, fee = f.fee + d.fee
        FROM (SELECT loan_id, SUM(principal) AS principal, SUM(interest) AS interest,
                     SUM(late_fee) AS late_fee, SUM(fee) AS fee
              FROM (SELECT loan_id, lender_received_principal AS principal, lender_received_interest AS interest,
                           lender_received_late_fee AS late_fee, julo_fee_received AS fee
                    FROM new_rows
                    UNION ALL
                    SELECT loan_id, -lender_received_principal, -lender_received_interest,
                           -lender_received_late_fee, -julo_fee_received
                    FROM old_rows) moves
              GROUP BY loan_id) d
        WHERE f.loan_id = d.loan_id;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION plf_repayments_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partner_loan_figures SET principal = 0, interest = 0, late_fee = 0, fee = 0
    WHERE principal <> 0 OR interest <> 0 OR late_fee <> 0 OR fee <> 0;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS plf_repayment_insert ON repayment_transaction;
CREATE TRIGGER plf_repayment_insert AFTER INSERT ON repayment_transaction
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION plf_apply_repayment_delta();
DROP TRIGGER IF EXISTS plf_repayment_update ON repayment_transaction;
CREATE TRIGGER plf_repayment_update AFTER UPDATE ON repayment_transaction
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION plf_apply_repayment_delta();
DROP TRIGGER IF EXISTS plf_repayment_delete ON repayment_transaction;
CREATE TRIGGER plf_repayment_delete AFTER DELETE ON repayment_transaction
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION plf_apply_repayment_delta();
DROP TRIGGER IF EXISTS plf_repayment_truncate ON repayment_transaction;
CREATE TRIGGER plf_repayment_truncate AFTER TRUNCATE ON repayment_transaction
    FOR EACH STATEMENT EXECUTE FUNCTION plf_repayments_truncated();

-- backfill from whatever the database already holds ----------------------------------------
INSERT INTO partner_loan_figures (loan_id, application_id, partner_id, loan_amount, disbursed, disbursement,
                                  principal, interest, late_fee, fee)
SELECT l.loan_id, l.application_id, a.partner_id, l.loan_amount,
       COALESCE(d.completed, FALSE), COALESCE(d.amount, 0),
       COALESCE(r.principal, 0), COALESCE(r.interest, 0), COALESCE(r.late_fee, 0), COALESCE(r.fee, 0)
FROM loan l
JOIN application a ON a.application_id = l.application_id
LEFT JOIN (SELECT loan_id, bool_or(disburse_status = 'COMPLETED') AS completed,
                  SUM(disburse_amount) FILTER (WHERE disburse_status = 'COMPLETED') AS amount
           FROM disbursement GROUP BY loan_id) d ON d.loan_id = l.loan_id
LEFT JOIN (SELECT loan_id, SUM(lender_received_principal) AS principal, SUM(lender_received_interest) AS interest,
                  SUM(lender_received_late_fee) AS late_fee, SUM(julo_fee_received) AS fee
           FROM repayment_transaction GROUP BY loan_id) r ON r.loan_id = l.loan_id
ON CONFLICT (loan_id) DO NOTHING;
