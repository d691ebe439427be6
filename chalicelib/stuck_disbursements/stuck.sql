-- Applications whose history reached 170 (legal agreement signed) or 181 (fund disbursal
-- failed) and whose loan's disbursement is still INITIATED. Starts from the few INITIATED
-- disbursements (partial index disbursement_initiated_idx); one history probe per row.
SELECT d.disbursement_id,
       a.application_id,
       a.application_xid,
       l.loan_id,
       a.fullname,
       a.email,
       a.mobile_phone_1,
       p.name                                                  AS partner_name,
       pl.name                                                 AS product_line,
       a.bank_name,
       d.bank_code,
       a.application_status_code                               AS application_status,
       (h.reached_at AT TIME ZONE 'Asia/Jakarta')              AS reached_at,
       (%(as_of)s::date - (h.reached_at AT TIME ZONE 'Asia/Jakarta')::date) AS days_stuck,
       l.loan_amount,
       d.disburse_amount,
       d.retry_times
FROM disbursement d
JOIN loan l ON l.loan_id = d.loan_id
JOIN application a ON a.application_id = l.application_id
LEFT JOIN partner p ON p.partner_id = a.partner_id
LEFT JOIN product_line pl ON pl.product_line_code = a.product_line_code
JOIN LATERAL (
    SELECT max(hh.cdate) AS reached_at
    FROM application_history hh
    WHERE hh.application_id = a.application_id AND hh.status_new IN (170, 181)
) h ON h.reached_at IS NOT NULL
WHERE d.disburse_status = 'INITIATED'
ORDER BY h.reached_at, a.application_id
