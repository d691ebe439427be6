-- Deleted applications leave the partner views (report and summary), as they leave the CRM.
--
-- A loan counts in a partner's book only while its application is not deleted: the rollup's
-- partner_id (migration 0200) is NULL for the loans of a deleted application. The per-partner
-- totals (migration 0203) sum only rows with a partner, so deleting (or undeleting) an
-- application moves its loans' figures out of (or back into) the summary in the same
-- transaction, and the report, which lists non-deleted applications only, still sums to it.

CREATE OR REPLACE FUNCTION plf_book_partner(partner_id INTEGER, is_deleted BOOLEAN) RETURNS INTEGER
    LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN is_deleted THEN NULL ELSE partner_id END $$;

CREATE OR REPLACE FUNCTION plf_loan_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_loan_figures (loan_id, application_id, partner_id, loan_amount)
    SELECT n.loan_id, n.application_id, plf_book_partner(a.partner_id, a.is_deleted), n.loan_amount
    FROM new_rows n JOIN application a ON a.application_id = n.application_id
    ON CONFLICT (loan_id) DO UPDATE
        SET application_id = EXCLUDED.application_id, partner_id = EXCLUDED.partner_id,
            loan_amount = EXCLUDED.loan_amount;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION plf_loan_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partner_loan_figures f
    SET application_id = n.application_id, partner_id = plf_book_partner(a.partner_id, a.is_deleted),
        loan_amount = n.loan_amount
    FROM new_rows n JOIN application a ON a.application_id = n.application_id
    WHERE f.loan_id = n.loan_id
      AND (f.application_id, f.partner_id, f.loan_amount)
          IS DISTINCT FROM (n.application_id, plf_book_partner(a.partner_id, a.is_deleted), n.loan_amount);
    RETURN NULL;
END $$;

-- an application moving to another partner, or being deleted, moves its loans' figures with it
CREATE OR REPLACE FUNCTION plf_application_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partner_loan_figures f SET partner_id = plf_book_partner(n.partner_id, n.is_deleted)
    FROM new_rows n
    WHERE f.application_id = n.application_id
      AND f.partner_id IS DISTINCT FROM plf_book_partner(n.partner_id, n.is_deleted);
    RETURN NULL;
END $$;

-- what is already deleted leaves the books now (the 0203 triggers update the totals)
UPDATE partner_loan_figures f SET partner_id = NULL
FROM application a
WHERE a.application_id = f.application_id AND a.is_deleted AND f.partner_id IS NOT NULL;
