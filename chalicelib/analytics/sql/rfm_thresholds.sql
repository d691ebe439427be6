-- The quartile thresholds of a population's RFM inputs, one row per dimension, into thresholds.
-- Placeholders (module constants in rfm.py, never input): raw, a relation or a parenthesized
-- SELECT of (user_id, recency, frequency, monetary), and thresholds (rfm_threshold or a
-- temporary table like it). Quartiles are percentile_cont (linear interpolation, as pandas).
INSERT INTO ${thresholds} (dimension, q1, q3, min_value, max_value)
SELECT d.dimension, d.q1, d.q3, d.lo, d.hi
FROM (
    SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY recency) AS r1,
           percentile_cont(0.75) WITHIN GROUP (ORDER BY recency) AS r3,
           percentile_cont(0.25) WITHIN GROUP (ORDER BY frequency) AS f1,
           percentile_cont(0.75) WITHIN GROUP (ORDER BY frequency) AS f3,
           percentile_cont(0.25) WITHIN GROUP (ORDER BY monetary) AS m1,
           percentile_cont(0.75) WITHIN GROUP (ORDER BY monetary) AS m3,
           min(recency) AS r_lo, max(recency) AS r_hi,
           min(frequency) AS f_lo, max(frequency) AS f_hi,
           min(monetary) AS m_lo, max(monetary) AS m_hi
    FROM ${raw} u
) q
CROSS JOIN LATERAL (VALUES ('recency', q.r1, q.r3, q.r_lo, q.r_hi),
                           ('frequency', q.f1, q.f3, q.f_lo, q.f_hi),
                           ('monetary', q.m1, q.m3, q.m_lo, q.m_hi))
    AS d (dimension, q1, q3, lo, hi)
WHERE q.r1 IS NOT NULL
