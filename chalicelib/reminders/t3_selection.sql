-- T-3 selection for one zone and business date.
-- Unpaid payments due on one of %(due_dates)s (the business date + 3, and the due dates the contact
-- policy's shift rule moves onto this day), robocall active, on an active (disbursed, not paid-off)
-- loan, whose borrower's postal code maps to %(zone)s. Borrowers with a missing or malformed postal
-- code count as %(fallback_zone)s (zone_fallback = true).
--
-- One contact per borrower per slot (POJK 22/2023 Pasal 62 ayat (2) huruf d): payments are grouped
-- by the number they would be contacted on (contact_key: the robocall number for the robocall stages,
-- the WhatsApp number for the WhatsApp stage; international digits); a number without digits is a
-- group of its own payment. The retries and the WhatsApp stage skip a whole group once any call to
-- the robocall number succeeded (the borrower answered one call that named every loan).
-- for_whatsapp (the WhatsApp stage): only borrowers with WhatsApp who were not messaged yet.
-- for_sms (the SMS stage): borrowers without WhatsApp, and those whose WhatsApp message failed
-- (whatsapp_failed: nothing placed, or a final failed status; from the WhatsApp stage's ledger); its
-- contact is the call number's (the SMS goes to the number the calls went to).
WITH due AS (
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
           z.zone IS NULL AS zone_fallback,
           a.mobile_phone_1
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
),
digits AS (
    SELECT due.*,
           nullif(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), '') AS call_digits,
           nullif(regexp_replace(coalesce(mobile_phone_1, ''), '[^0-9]', '', 'g'), '') AS wa_digits
    FROM due
),
keyed AS (
    SELECT digits.*,
           COALESCE(CASE WHEN call_digits LIKE '0%%' THEN '62' || substr(call_digits, 2) ELSE call_digits END,
                    'payment:' || payment_id) AS call_key,
           COALESCE(CASE WHEN wa_digits LIKE '0%%' THEN '62' || substr(wa_digits, 2) ELSE wa_digits END,
                    'payment:' || payment_id) AS wa_key
    FROM digits
),
grouped AS (
    SELECT keyed.*, bool_or(is_success_robocall) OVER (PARTITION BY call_key) AS call_succeeded
    FROM keyed
)
SELECT payment_id, loan_id, application_id, payment_number, due_date, due_amount, is_success_robocall,
       is_whatsapp, is_whatsapp_blasted, robocall_template_id, phone, has_whatsapp_1, fullname, address_kodepos,
       product_line_code, product_family, zone, zone_fallback,
       CASE WHEN %(for_whatsapp)s THEN wa_key ELSE call_key END AS contact_key
FROM grouped
WHERE (NOT %(only_unsuccessful_robocall)s OR NOT call_succeeded)
  AND (NOT %(for_whatsapp)s OR (is_whatsapp AND has_whatsapp_1 AND NOT is_whatsapp_blasted))
  AND (NOT %(for_sms)s OR NOT (is_whatsapp AND has_whatsapp_1) OR payment_id = ANY(%(whatsapp_failed)s::bigint[]))
