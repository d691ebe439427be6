-- RFM per user_id as of the batch date (Table 4.3), over the groups the filters keep (all null:
-- everybody; the ETL stores that in rfm_threshold / rfm_score from final_user_analysis, a
-- filtered API request scores its own population the same way, from aggregated_monthly so that
-- months can be filtered, into temporary tables). Placeholders (module constants in rfm.py,
-- never input): ${source}, ${month_filter}, ${raw}, ${thresholds}, ${scores} (a temporary table
-- like rfm_score).
-- Users with no valid order (only cancelled / returned ones) are not scored.
-- recency = batch date - date of the last valid order (both in WIB), never below 0.
-- Each dimension is scored by its own quartiles (percentile_cont: linear interpolation) with the
-- report's rule, value < Q1 -> 1, Q1 <= value <= Q3 -> 2, value > Q3 -> 3, plus the tie rule
-- (docs/analytics.md): a quartile equal to the smallest value takes the users tied there into
-- bin 1 (value = Q1 = min -> 1), and one equal to the largest value takes them into bin 3
-- (value = Q3 = max -> 3); bin 1 is tested first, so with no spread everybody is in bin 1.
-- Recency is the other way round (fewer days is better): r_score = 4 - bin.
CREATE TEMP TABLE ${raw} ON COMMIT DROP AS
SELECT user_id,
       greatest(0, %(as_of)s::date - max((last_order_timestamp AT TIME ZONE 'Asia/Jakarta')::date)) AS recency,
       sum(total_order)::INTEGER AS frequency,
       sum(total_gmv_amount)::BIGINT AS monetary
FROM ${source}
WHERE total_order > 0
  AND (%(marketplace)s::TEXT IS NULL OR marketplace = %(marketplace)s)
  AND (%(shop)s::TEXT IS NULL OR shop_id = %(shop)s)
  AND (%(region)s::TEXT IS NULL OR magpie_region_code = %(region)s)
  ${month_filter}
GROUP BY user_id;

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
    FROM ${raw}
) q
CROSS JOIN LATERAL (VALUES ('recency', q.r1, q.r3, q.r_lo, q.r_hi),
                           ('frequency', q.f1, q.f3, q.f_lo, q.f_hi),
                           ('monetary', q.m1, q.m3, q.m_lo, q.m_hi))
    AS d (dimension, q1, q3, lo, hi)
WHERE q.r1 IS NOT NULL;

-- Scores are computed once (MATERIALIZED: not re-evaluated inside the join), then named by a hash
-- join on the pattern, into a table without indexes (the ETL then merges it into rfm_score).
INSERT INTO ${scores} (user_id, recency, r_score, frequency, f_score, monetary, m_score, total_score,
                       segment, etl_batch_time)
WITH t AS MATERIALIZED (
    SELECT r.q1 AS r1, r.q3 AS r3, r.min_value AS r_lo, r.max_value AS r_hi,
           f.q1 AS f1, f.q3 AS f3, f.min_value AS f_lo, f.max_value AS f_hi,
           m.q1 AS m1, m.q3 AS m3, m.min_value AS m_lo, m.max_value AS m_hi
    FROM (SELECT q1, q3, min_value, max_value FROM ${thresholds} WHERE dimension = 'recency') r
    CROSS JOIN (SELECT q1, q3, min_value, max_value FROM ${thresholds} WHERE dimension = 'frequency') f
    CROSS JOIN (SELECT q1, q3, min_value, max_value FROM ${thresholds} WHERE dimension = 'monetary') m
),
s AS MATERIALIZED (
    SELECT u.user_id, u.recency, u.frequency, u.monetary,
           4 - CASE WHEN u.recency < t.r1 OR (u.recency = t.r1 AND t.r1 = t.r_lo) THEN 1
                    WHEN u.recency > t.r3 OR (u.recency = t.r3 AND t.r3 = t.r_hi) THEN 3
                    ELSE 2 END AS r_score,
           CASE WHEN u.frequency < t.f1 OR (u.frequency = t.f1 AND t.f1 = t.f_lo) THEN 1
                WHEN u.frequency > t.f3 OR (u.frequency = t.f3 AND t.f3 = t.f_hi) THEN 3
                ELSE 2 END AS f_score,
           CASE WHEN u.monetary < t.m1 OR (u.monetary = t.m1 AND t.m1 = t.m_lo) THEN 1
                WHEN u.monetary > t.m3 OR (u.monetary = t.m3 AND t.m3 = t.m_hi) THEN 3
                ELSE 2 END AS m_score
    FROM ${raw} u CROSS JOIN t
)
SELECT s.user_id, s.recency, s.r_score, s.frequency, s.f_score, s.monetary, s.m_score,
       s.r_score + s.f_score + s.m_score, seg.segment, %(etl_batch_time)s
FROM s
JOIN unnest(%(seg_r)s::INT[], %(seg_f)s::INT[], %(seg_m)s::INT[], %(seg_name)s::TEXT[])
    AS seg (r, f, m, segment) ON seg.r = s.r_score AND seg.f = s.f_score AND seg.m = s.m_score;
