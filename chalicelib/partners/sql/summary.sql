-- One partner's Follow-the-Money totals: its 16 shard rows of partner_figure_totals (migration
-- 0203), which triggers keep equal to the sums of its per-loan rollup rows (migration 0200).
-- repayment and net_profit are the rollup's generated columns (migration 0210).
SELECT
    COALESCE(SUM(loan_count), 0)   AS loan_count,
    COALESCE(SUM(disbursement), 0) AS disbursement,
    COALESCE(SUM(outstanding), 0)  AS outstanding,
    COALESCE(SUM(repayment), 0)    AS repayment,
    COALESCE(SUM(principal), 0)    AS principal,
    COALESCE(SUM(interest), 0)     AS interest,
    COALESCE(SUM(late_fee), 0)     AS late_fee,
    COALESCE(SUM(fee), 0)          AS fee,
    COALESCE(SUM(net_profit), 0)   AS net_profit
FROM partner_figure_totals
WHERE partner_id = %(partner_id)s
