-- A request rate per partner that holds across every API container (PARTNER_RATE_LIMIT_PER_SECOND,
-- default 10/s, burst PARTNER_RATE_LIMIT_BURST, default 20): one row per partner, shared by all
-- containers because it lives in the database they already use.
--
-- GCRA (the "virtual scheduling" form of a token bucket): `tat` is the theoretical arrival time
-- of the partner's next request. With T = 1/rate and tolerance τ = (burst − 1)·T, a request at
-- `now` is admitted when max(tat, now) ≤ now + τ, and then tat := max(tat, now) + T. An idle
-- partner can send `burst` requests at once, and `rate` per second after that. One row write per
-- admitted request, none for a refused one; the row lock serialises a partner's concurrent
-- requests (other partners' rows are not touched), and `now` is read after the lock is held, from
-- the database's clock: containers' clocks do not matter.

CREATE TABLE IF NOT EXISTS partner_rate_limit (
    partner_id  INTEGER PRIMARY KEY REFERENCES partner (partner_id) ON DELETE CASCADE,
    tat         TIMESTAMPTZ NOT NULL
);

-- 0 when the request is admitted; otherwise the seconds until one would be (Retry-After)
CREATE OR REPLACE FUNCTION partner_rate_take(p_partner INTEGER, p_rate DOUBLE PRECISION, p_burst INTEGER)
RETURNS DOUBLE PRECISION LANGUAGE plpgsql AS $$
DECLARE
    emission   INTERVAL := make_interval(secs => 1.0 / p_rate);
    tolerance  INTERVAL := make_interval(secs => GREATEST(p_burst - 1, 0) / p_rate);
    arrival    TIMESTAMPTZ;
    now_       TIMESTAMPTZ;
BEGIN
    INSERT INTO partner_rate_limit (partner_id, tat) VALUES (p_partner, '-infinity')
    ON CONFLICT (partner_id) DO NOTHING;
    SELECT tat INTO arrival FROM partner_rate_limit WHERE partner_id = p_partner FOR UPDATE;
    now_ := clock_timestamp();
    arrival := GREATEST(arrival, now_);
    IF arrival > now_ + tolerance THEN
        RETURN EXTRACT(EPOCH FROM (arrival - now_ - tolerance));
    END IF;
    UPDATE partner_rate_limit SET tat = arrival + emission WHERE partner_id = p_partner;
    RETURN 0;
END $$;
