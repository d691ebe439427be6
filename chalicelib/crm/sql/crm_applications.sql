-- Staff CRM list: applications with their partner and (Bukalapak) invoice id, newest first,
-- keyset-paginated on (cdate DESC, application_id DESC). NULL filters are off. An invoice_id
-- search uses application_invoice_id_idx (migration 0205).
SELECT
    a.application_id,
    a.application_xid,
    a.partner_id,
    p.name AS partner_name,
    a.application_status_code,
    a.invoice_id,
    a.product_line_code,
    a.cdate
FROM application a
LEFT JOIN partner p ON p.partner_id = a.partner_id
WHERE NOT a.is_deleted
  AND (%(partner_id)s::integer IS NULL OR a.partner_id = %(partner_id)s)
  AND (%(status)s::integer IS NULL OR a.application_status_code = %(status)s)
  AND (%(invoice_id)s::text IS NULL OR a.invoice_id = %(invoice_id)s)
  AND (%(before_cdate)s::timestamptz IS NULL OR (a.cdate, a.application_id) < (%(before_cdate)s, %(before_id)s))
ORDER BY a.cdate DESC, a.application_id DESC
LIMIT %(limit)s
