-- Staff keys name the person who holds them, and live at most a year (issue 21, item 8).
--
-- A staff key reads borrowers' data (CRM, analytics user lists, CSV exports): every staff read is
-- audited by key (staff_read_audit), and a key now names its owner, so the trail leads to a person.
--
--   owner        who holds the key (a name and e-mail, as the CLI's --owner gives it); required for
--                staff keys, none for partner keys (a partner key is the partner's); never changes
--                (a new holder gets a new key).
--   expiry       a staff key lives STAFF_KEY_EXPIRY_DAYS (default 90) after its creation; an expiry
--                more than 366 days after it is set (issued or changed) is refused, whatever wrote it.
-- Staff keys that exist when this migration runs name no owner: they get the owner 'unknown (issued
-- before migration 0601)' and expire within 30 days at the latest, so that within a month every live
-- staff key names a person (re-issue them with `create-key --staff --owner ...`). The expiry change
-- is written to the keys' audit trail (migration 0211) with the actor 'migration 0601'.

SELECT set_config('julo.actor', 'migration 0601', true);

ALTER TABLE partner_api_key ADD COLUMN IF NOT EXISTS owner TEXT;

UPDATE partner_api_key
SET owner = 'unknown (issued before migration 0601)'
WHERE scope = 'staff' AND owner IS NULL;

UPDATE partner_api_key
SET expires_at = LEAST(expires_at, now() + interval '30 days')
WHERE scope = 'staff' AND revoked_at IS NULL AND expires_at > now() + interval '30 days'
  AND owner = 'unknown (issued before migration 0601)';

ALTER TABLE partner_api_key DROP CONSTRAINT IF EXISTS partner_api_key_owner;
ALTER TABLE partner_api_key ADD CONSTRAINT partner_api_key_owner CHECK (
    CASE WHEN scope = 'staff' THEN owner IS NOT NULL AND btrim(owner) <> '' ELSE owner IS NULL END);

-- a staff key's expiry is at most 366 days after it is set (issued, or its expiry changed)
CREATE OR REPLACE FUNCTION api_key_staff_lifetime() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.scope = 'staff' AND (TG_OP = 'INSERT' OR NEW.expires_at IS DISTINCT FROM OLD.expires_at)
       AND NEW.expires_at > now() + interval '366 days' THEN
        RAISE EXCEPTION 'a staff key lives at most 366 days (expiry % asked)', NEW.expires_at
            USING ERRCODE = 'check_violation', HINT = 'staff_key_lifetime';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS api_key_staff_lifetime ON partner_api_key;
CREATE TRIGGER api_key_staff_lifetime BEFORE INSERT OR UPDATE OF expires_at ON partner_api_key
    FOR EACH ROW EXECUTE FUNCTION api_key_staff_lifetime();

-- who holds a key never changes
CREATE OR REPLACE FUNCTION api_key_owner_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner IS DISTINCT FROM OLD.owner THEN
        RAISE EXCEPTION 'an API key''s owner never changes: issue the new holder a new key'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS api_key_owner_fixed ON partner_api_key;
CREATE TRIGGER api_key_owner_fixed BEFORE UPDATE OF owner ON partner_api_key
    FOR EACH ROW EXECUTE FUNCTION api_key_owner_fixed();
