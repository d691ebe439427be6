-- Net profit defined once, in the rollup, and no longer net of the platform fee twice.
--
-- interest and late_fee of the rollup are already the lender's share (Σ lender_received_*):
-- the platform's fee (julo_fee_received) was taken out of them when the repayment was split.
-- So what the funder earned beyond principal is simply
--     net_profit = interest + late_fee           (= Σ lender_received_interest + lender_received_late_fee)
-- and what it has received in all is
--     repayment  = principal + interest + late_fee (= Σ lender_received)
-- (The views used to compute net_profit = interest + late_fee − fee in Python: the fee twice.)
--
-- Both are generated columns of the per-loan rollup (migration 0200) and of the per-partner
-- totals (migration 0203), so the summary and the report read them instead of recomputing them,
-- and Σ report rows = summary holds for them as for every other figure. The existing triggers
-- keep writing principal/interest/late_fee; the generated columns follow in the same row write.

ALTER TABLE partner_loan_figures
    ADD COLUMN IF NOT EXISTS repayment BIGINT GENERATED ALWAYS AS (principal + interest + late_fee) STORED,
    ADD COLUMN IF NOT EXISTS net_profit BIGINT GENERATED ALWAYS AS (interest + late_fee) STORED;

ALTER TABLE partner_figure_totals
    ADD COLUMN IF NOT EXISTS repayment BIGINT GENERATED ALWAYS AS (principal + interest + late_fee) STORED,
    ADD COLUMN IF NOT EXISTS net_profit BIGINT GENERATED ALWAYS AS (interest + late_fee) STORED;
