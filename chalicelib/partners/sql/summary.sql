-- One partner's Follow-the-Money totals, from the per-loan rollup (migration 0200).
SELECT
    COUNT(*)                                                                   AS loan_count,
    COALESCE(SUM(disbursement), 0)                                             AS disbursement,
    COALESCE(SUM(principal), 0)                                                AS principal,
    COALESCE(SUM(interest), 0)                                                 AS interest,
    COALESCE(SUM(late_fee), 0)                                                 AS late_fee,
    COALESCE(SUM(fee), 0)                                                      AS fee,
    COALESCE(SUM(GREATEST(loan_amount - principal, 0)) FILTER (WHERE disbursed), 0) AS outstanding
FROM partner_loan_figures
WHERE partner_id = %(partner_id)s
