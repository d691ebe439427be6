-- T-3 selection for one zone and business date.
-- Unpaid payments due on one of %(due_dates)s (the business date + 3, and the due dates the contact
-- policy's shift rule moves onto this day), robocall active, on an active
-- (disbursed, not paid-off) loan, whose borrower's postal code maps to %(zone)s. Borrowers
-- with a missing or malformed postal code count as %(fallback_zone)s (zone_fallback = true).
-- for_whatsapp (the WhatsApp stage): only borrowers with WhatsApp who were not messaged yet.
SELECT p.payment_id,
       p.loan_id,
       l.application_id,
       p.payment_number,
       p.due_date,
       p.due_amount,
       p.is_success_robocall,
       p.is_whatsapp,
       p.is_whatsapp_blasted,
       p.robocall_template_id,
       -- the promise-to-pay number while it is active (payment.is_ptp_robocall_active), else the borrower's
       CASE WHEN p.is_ptp_robocall_active AND nullif(btrim(p.ptp_robocall_phone_number), '') IS NOT NULL
            THEN p.ptp_robocall_phone_number ELSE a.mobile_phone_1 END AS phone,
       a.has_whatsapp_1,
       a.fullname,
       a.address_kodepos,
       a.product_line_code,
       pl.product_family,
       COALESCE(z.zone, %(fallback_zone)s) AS zone,
       z.zone IS NULL AS zone_fallback
FROM payment p
JOIN loan l ON l.loan_id = p.loan_id
JOIN application a ON a.application_id = l.application_id
LEFT JOIN product_line pl ON pl.product_line_code = a.product_line_code
LEFT JOIN postcode_zone z
       ON z.prefix = left(btrim(a.address_kodepos), 2)
      AND btrim(a.address_kodepos) ~ '^[0-9]{5}$'
WHERE p.due_date = ANY(%(due_dates)s::date[])
  AND p.payment_status_code < %(paid_threshold)s
  AND p.is_robocall_active
  AND l.loan_status_code = ANY(%(active_loan_statuses)s)
  AND COALESCE(z.zone, %(fallback_zone)s) = %(zone)s
  AND (NOT %(only_unsuccessful_robocall)s OR NOT p.is_success_robocall)
  AND (NOT %(for_whatsapp)s OR (p.is_whatsapp AND a.has_whatsapp_1 AND NOT p.is_whatsapp_blasted))
