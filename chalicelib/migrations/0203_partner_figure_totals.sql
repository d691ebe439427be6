-- Partner summary in constant time: per-partner totals of partner_loan_figures (migration 0200),
-- split into 16 shards by loan_id so concurrent repayments of one partner rarely wait on the
-- same row. The summary sums the partner's 16 rows instead of its (200,000+) loan rows.
--
-- Kept exact by statement-level triggers on partner_loan_figures (which its own triggers keep
-- exact): each statement's net change per (partner, shard) is added in the same transaction.
-- Rows are locked in (partner_id, shard) order before the update, so two statements touching
-- several shards never deadlock on them. A loan's outstanding is clamped per loan:
--   CASE WHEN disbursed THEN GREATEST(loan_amount - principal, 0) ELSE 0 END

CREATE TABLE IF NOT EXISTS partner_figure_totals (
    partner_id      INTEGER NOT NULL REFERENCES partner (partner_id) ON DELETE CASCADE,
    shard           SMALLINT NOT NULL CHECK (shard BETWEEN 0 AND 15),
    loan_count      BIGINT NOT NULL DEFAULT 0,
    disbursement    BIGINT NOT NULL DEFAULT 0,
    outstanding     BIGINT NOT NULL DEFAULT 0,
    principal       BIGINT NOT NULL DEFAULT 0,
    interest        BIGINT NOT NULL DEFAULT 0,
    late_fee        BIGINT NOT NULL DEFAULT 0,
    fee             BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (partner_id, shard)
);

-- every partner has its 16 rows from the start
CREATE OR REPLACE FUNCTION pft_partner_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_figure_totals (partner_id, shard)
    SELECT n.partner_id, s FROM new_rows n, generate_series(0, 15) s
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS pft_partner_insert ON partner;
CREATE TRIGGER pft_partner_insert AFTER INSERT ON partner
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pft_partner_inserted();

-- one function per event: transition tables differ; `sign` folds old rows in negatively
CREATE OR REPLACE FUNCTION pft_apply_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM partner_figure_totals t
    WHERE (t.partner_id, t.shard) IN (SELECT partner_id, (loan_id % 16)::smallint FROM new_rows)
    ORDER BY t.partner_id, t.shard FOR UPDATE;
    UPDATE partner_figure_totals t
    SET loan_count = t.loan_count + d.loan_count, disbursement = t.disbursement + d.disbursement,
        outstanding = t.outstanding + d.outstanding, principal = t.principal + d.principal,
        interest = t.interest + d.interest, late_fee = t.late_fee + d.late_fee, fee = t.fee + d.fee
    FROM (SELECT partner_id, (loan_id % 16)::smallint AS shard, COUNT(*) AS loan_count,
                 SUM(disbursement) AS disbursement,
                 SUM(CASE WHEN disbursed THEN GREATEST(loan_amount - principal, 0) ELSE 0 END) AS outstanding,
                 SUM(principal) AS principal, SUM(interest) AS interest, SUM(late_fee) AS late_fee,
                 SUM(fee) AS fee
          FROM new_rows WHERE partner_id IS NOT NULL GROUP BY 1, 2) d
    WHERE t.partner_id = d.partner_id AND t.shard = d.shard;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION pft_apply_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM partner_figure_totals t
    WHERE (t.partner_id, t.shard) IN (SELECT partner_id, (loan_id % 16)::smallint FROM old_rows)
    ORDER BY t.partner_id, t.shard FOR UPDATE;
    UPDATE partner_figure_totals t
    SET loan_count = t.loan_count - d.loan_count, disbursement = t.disbursement - d.disbursement,
        outstanding = t.outstanding - d.outstanding, principal = t.principal - d.principal,
        interest = t.interest - d.interest, late_fee = t.late_fee - d.late_fee, fee = t.fee - d.fee
    FROM (SELECT partner_id, (loan_id % 16)::smallint AS shard, COUNT(*) AS loan_count,
                 SUM(disbursement) AS disbursement,
                 SUM(CASE WHEN disbursed THEN GREATEST(loan_amount - principal, 0) ELSE 0 END) AS outstanding,
                 SUM(principal) AS principal, SUM(interest) AS interest, SUM(late_fee) AS late_fee,
                 SUM(fee) AS fee
          FROM old_rows WHERE partner_id IS NOT NULL GROUP BY 1, 2) d
    WHERE t.partner_id = d.partner_id AND t.shard = d.shard;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION pft_apply_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM partner_figure_totals t
    WHERE (t.partner_id, t.shard) IN (SELECT partner_id, (loan_id % 16)::smallint FROM new_rows
                                      UNION SELECT partner_id, (loan_id % 16)::smallint FROM old_rows)
    ORDER BY t.partner_id, t.shard FOR UPDATE;
    UPDATE partner_figure_totals t
    SET loan_count = t.loan_count + d.loan_count, disbursement = t.disbursement + d.disbursement,
        outstanding = t.outstanding + d.outstanding, principal = t.principal + d.principal,
        interest = t.interest + d.interest, late_fee = t.late_fee + d.late_fee, fee = t.fee + d.fee
    FROM (SELECT partner_id, (loan_id % 16)::smallint AS shard, SUM(sign) AS loan_count,
                 SUM(sign * disbursement) AS disbursement,
                 SUM(sign * CASE WHEN disbursed THEN GREATEST(loan_amount - principal, 0) ELSE 0 END) AS outstanding,
                 SUM(sign * principal) AS principal, SUM(sign * interest) AS interest,
                 SUM(sign * late_fee) AS late_fee, SUM(sign * fee) AS fee
          FROM (SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1 AS sign, * FROM old_rows) moves
          WHERE partner_id IS NOT NULL GROUP BY 1, 2) d
    WHERE t.partner_id = d.partner_id AND t.shard = d.shard;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION pft_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partner_figure_totals
    SET loan_count = 0, disbursement = 0, outstanding = 0, principal = 0, interest = 0, late_fee = 0, fee = 0
    WHERE loan_count <> 0 OR disbursement <> 0 OR outstanding <> 0 OR principal <> 0 OR interest <> 0
       OR late_fee <> 0 OR fee <> 0;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS pft_figures_insert ON partner_loan_figures;
CREATE TRIGGER pft_figures_insert AFTER INSERT ON partner_loan_figures
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pft_apply_inserted();
DROP TRIGGER IF EXISTS pft_figures_update ON partner_loan_figures;
CREATE TRIGGER pft_figures_update AFTER UPDATE ON partner_loan_figures
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pft_apply_updated();
DROP TRIGGER IF EXISTS pft_figures_delete ON partner_loan_figures;
CREATE TRIGGER pft_figures_delete AFTER DELETE ON partner_loan_figures
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pft_apply_deleted();
DROP TRIGGER IF EXISTS pft_figures_truncate ON partner_loan_figures;
CREATE TRIGGER pft_figures_truncate AFTER TRUNCATE ON partner_loan_figures
    FOR EACH STATEMENT EXECUTE FUNCTION pft_truncated();

-- backfill: shard rows for existing partners, then the totals of what the rollup holds
INSERT INTO partner_figure_totals (partner_id, shard)
SELECT partner_id, s FROM partner, generate_series(0, 15) s
ON CONFLICT DO NOTHING;

UPDATE partner_figure_totals t
SET loan_count = d.loan_count, disbursement = d.disbursement, outstanding = d.outstanding,
    principal = d.principal, interest = d.interest, late_fee = d.late_fee, fee = d.fee
FROM (SELECT partner_id, (loan_id % 16)::smallint AS shard, COUNT(*) AS loan_count,
             SUM(disbursement) AS disbursement,
             SUM(CASE WHEN disbursed THEN GREATEST(loan_amount - principal, 0) ELSE 0 END) AS outstanding,
             SUM(principal) AS principal, SUM(interest) AS interest, SUM(late_fee) AS late_fee, SUM(fee) AS fee
      FROM partner_loan_figures WHERE partner_id IS NOT NULL GROUP BY 1, 2) d
WHERE t.partner_id = d.partner_id AND t.shard = d.shard;
