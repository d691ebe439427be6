-- Staff CRM list (GET /v1/crm/applications): newest first across all partners.
CREATE INDEX IF NOT EXISTS application_cdate_id_idx ON application (cdate DESC, application_id DESC);
