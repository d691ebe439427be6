-- Slack's files.completeUploadExternal takes a channel ID, not a #name: store the ID.
UPDATE feature_setting
SET parameters = jsonb_set(parameters, '{channel}', '"C0DISBURSEOPS"'), udate = now()
WHERE feature_name = 'stuck_disbursement_report' AND parameters->>'channel' = '#disbursement-ops';
