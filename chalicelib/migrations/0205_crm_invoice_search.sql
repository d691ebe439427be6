-- Staff CRM search by Bukalapak invoice (GET /v1/crm/applications?invoice_id=...): an exact
-- match on the few applications that have an invoice, newest first.
CREATE INDEX IF NOT EXISTS application_invoice_id_idx
    ON application (invoice_id, cdate DESC, application_id DESC)
    WHERE invoice_id IS NOT NULL;
