"""The staff CRM: the applications list (status, partner, Bukalapak ``invoice_id``)."""
