-- API keys a funder can trust: an expiry, the last use, who created / revoked them and when,
-- and at most two live keys per partner (the old and the new one during a rotation).
--
--   expires_at    every key has one. New keys get it from the issuer (PARTNER_KEY_EXPIRY_DAYS,
--                 default 365 days); keys that exist when this migration runs stay valid and
--                 are treated as issued today: now() + 365 days.
--   last_used_at  the API sets it at most once a minute per key (not per request).
--   partner_api_key_event   append-only audit trail, written by triggers whatever the path:
--                 'created' (with the expiry), 'revoked', 'expiry_changed'; the actor is the
--                 transaction's julo.actor setting (the CLI's --by, default the OS user), else
--                 the database user.
-- A key's hash, prefix, scope, partner and creation time never change, and a revoked key is never
-- revived (a trigger refuses both), so what the trail says about a key stays true.

ALTER TABLE partner_api_key
    ADD COLUMN IF NOT EXISTS expires_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS last_used_at TIMESTAMPTZ;

CREATE TABLE IF NOT EXISTS partner_api_key_event (
    event_id    BIGSERIAL PRIMARY KEY,
    api_key_id  BIGINT NOT NULL REFERENCES partner_api_key (api_key_id),
    action      TEXT NOT NULL CHECK (action IN ('created', 'revoked', 'expiry_changed')),
    actor       TEXT NOT NULL CHECK (actor <> ''),
    at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    expires_at  TIMESTAMPTZ          -- the expiry this event set ('created', 'expiry_changed')
);
CREATE INDEX IF NOT EXISTS partner_api_key_event_key_idx ON partner_api_key_event (api_key_id, at);
-- live keys of a partner (the two-key rule, the CLI's list)
CREATE INDEX IF NOT EXISTS partner_api_key_partner_live_idx
    ON partner_api_key (partner_id, expires_at) WHERE revoked_at IS NULL;

-- the trail of the keys that already exist (who issued them was not recorded)
INSERT INTO partner_api_key_event (api_key_id, action, actor, at, expires_at)
SELECT k.api_key_id, 'created', 'unknown (issued before migration 0211)', k.cdate, now() + interval '365 days'
FROM partner_api_key k
WHERE k.expires_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM partner_api_key_event e WHERE e.api_key_id = k.api_key_id);
INSERT INTO partner_api_key_event (api_key_id, action, actor, at)
SELECT k.api_key_id, 'revoked', 'unknown (revoked before migration 0211)', k.revoked_at
FROM partner_api_key k
WHERE k.expires_at IS NULL AND k.revoked_at IS NOT NULL;
UPDATE partner_api_key SET expires_at = now() + interval '365 days' WHERE expires_at IS NULL;

ALTER TABLE partner_api_key ALTER COLUMN expires_at SET DEFAULT now() + interval '365 days';
ALTER TABLE partner_api_key ALTER COLUMN expires_at SET NOT NULL;

CREATE OR REPLACE FUNCTION api_key_actor() RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT COALESCE(NULLIF(current_setting('julo.actor', TRUE), ''), 'db:' || session_user)
$$;

-- the trail is append-only
CREATE OR REPLACE FUNCTION api_key_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'partner_api_key_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

DROP TRIGGER IF EXISTS api_key_event_no_change ON partner_api_key_event;
CREATE TRIGGER api_key_event_no_change BEFORE UPDATE OR DELETE ON partner_api_key_event
    FOR EACH STATEMENT EXECUTE FUNCTION api_key_event_immutable();

-- a key's identity never changes and a revoked key stays revoked
CREATE OR REPLACE FUNCTION api_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.key_hash, NEW.key_prefix, NEW.scope, NEW.partner_id, NEW.cdate)
       IS DISTINCT FROM (OLD.key_hash, OLD.key_prefix, OLD.scope, OLD.partner_id, OLD.cdate) THEN
        RAISE EXCEPTION 'an API key''s hash, prefix, scope, partner and creation time never change'
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'API key % is revoked: it cannot be revived or re-revoked', OLD.key_prefix
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS api_key_guard ON partner_api_key;
CREATE TRIGGER api_key_guard BEFORE UPDATE ON partner_api_key
    FOR EACH ROW EXECUTE FUNCTION api_key_guard();

-- at most two live keys per partner: the backstop under concurrency (the partner row is locked)
CREATE OR REPLACE FUNCTION api_key_two_live() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    live INTEGER;
BEGIN
    IF NEW.scope <> 'partner' THEN
        RETURN NEW;
    END IF;
    PERFORM 1 FROM partner WHERE partner_id = NEW.partner_id FOR UPDATE;
    SELECT count(*) INTO live FROM partner_api_key
    WHERE partner_id = NEW.partner_id AND revoked_at IS NULL AND expires_at > now();
    IF live >= 2 THEN
        RAISE EXCEPTION 'partner % already has 2 live API keys: revoke one first', NEW.partner_id
            USING ERRCODE = 'check_violation', HINT = 'two_live_keys';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS api_key_two_live ON partner_api_key;
CREATE TRIGGER api_key_two_live BEFORE INSERT ON partner_api_key
    FOR EACH ROW EXECUTE FUNCTION api_key_two_live();

-- the trail, whatever wrote the key
CREATE OR REPLACE FUNCTION api_key_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO partner_api_key_event (api_key_id, action, actor, expires_at)
        VALUES (NEW.api_key_id, 'created', api_key_actor(), NEW.expires_at);
        RETURN NULL;
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        INSERT INTO partner_api_key_event (api_key_id, action, actor, at)
        VALUES (NEW.api_key_id, 'revoked', api_key_actor(), NEW.revoked_at);
    END IF;
    IF NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
        INSERT INTO partner_api_key_event (api_key_id, action, actor, expires_at)
        VALUES (NEW.api_key_id, 'expiry_changed', api_key_actor(), NEW.expires_at);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS api_key_audit ON partner_api_key;
CREATE TRIGGER api_key_audit AFTER INSERT OR UPDATE OF revoked_at, expires_at ON partner_api_key
    FOR EACH ROW EXECUTE FUNCTION api_key_audit();
