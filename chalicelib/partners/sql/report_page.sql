-- One page of a partner's report: its applications in (cdate, application_id) order, newest
-- first ({direction} = DESC, {after} = <) or oldest first (ASC, >), each with the figures of its
-- loans (rollup, migration 0200; repayment and net_profit generated, migration 0210). Keyset
-- pagination on the index application_partner_cdate_idx (partner_id, cdate, application_id),
-- walked forwards or backwards. NULL filters are off.
-- Deleted applications are left out (their loans leave the rollup's partner too, migration 0204).
SELECT
    a.application_id,
    a.application_xid,
    a.fullname,
    a.email,
    a.cdate,
    a.loan_purpose,
    a.credit_grade,
    a.application_status_code,
    f.loan_amount,
    f.loan_duration,
    COALESCE(f.disbursement, 0) AS disbursement,
    COALESCE(f.outstanding, 0)  AS outstanding,
    COALESCE(f.repayment, 0)    AS repayment,
    COALESCE(f.principal, 0)    AS principal,
    COALESCE(f.interest, 0)     AS interest,
    COALESCE(f.late_fee, 0)     AS late_fee,
    COALESCE(f.fee, 0)          AS fee,
    COALESCE(f.net_profit, 0)   AS net_profit
FROM application a
LEFT JOIN LATERAL (
    SELECT SUM(plf.loan_amount)                                                    AS loan_amount,
           MAX(l.loan_duration)                                                    AS loan_duration,
           SUM(plf.disbursement)                                                   AS disbursement,
           SUM(plf.repayment)                                                      AS repayment,
           SUM(plf.principal)                                                      AS principal,
           SUM(plf.interest)                                                       AS interest,
           SUM(plf.late_fee)                                                       AS late_fee,
           SUM(plf.fee)                                                            AS fee,
           SUM(plf.net_profit)                                                     AS net_profit,
           SUM(GREATEST(plf.loan_amount - plf.principal, 0)) FILTER (WHERE plf.disbursed) AS outstanding
    FROM partner_loan_figures plf
    JOIN loan l ON l.loan_id = plf.loan_id
    WHERE plf.application_id = a.application_id AND plf.partner_id = a.partner_id
) f ON TRUE
WHERE a.partner_id = %(partner_id)s
  AND NOT a.is_deleted
  AND (%(after_cdate)s::timestamptz IS NULL OR (a.cdate, a.application_id) {after} (%(after_cdate)s, %(after_id)s))
  AND (%(from_ts)s::timestamptz IS NULL OR a.cdate >= %(from_ts)s)
  AND (%(to_ts)s::timestamptz IS NULL OR a.cdate < %(to_ts)s)
  AND (%(status)s::integer IS NULL OR a.application_status_code = %(status)s)
ORDER BY a.cdate {direction}, a.application_id {direction}
LIMIT %(limit)s
