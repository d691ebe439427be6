-- RFM per user_id as of the batch date (Table 4.3), from final_user_analysis.
-- Users with no valid order (only cancelled / returned ones) are not scored.
-- recency = batch date - date of the last valid order (both in WIB), never below 0.
-- Each dimension is scored by its own quartiles (percentile_cont: linear interpolation):
--   value < Q1 -> 1, Q1 <= value <= Q3 -> 2, value > Q3 -> 3; recency the other way round
--   (fewer days is better). A value equal to a quartile scores 2; with one user, or all equal,
--   Q1 = Q3 and every user scores 2 on that dimension.
CREATE TEMP TABLE rfm_raw ON COMMIT DROP AS
SELECT user_id,
       greatest(0, %(as_of)s::date - max((last_order_timestamp AT TIME ZONE 'Asia/Jakarta')::date)) AS recency,
       sum(total_order)::INTEGER AS frequency,
       sum(total_gmv_amount)::BIGINT AS monetary
FROM final_user_analysis
WHERE total_order > 0
GROUP BY user_id;

INSERT INTO rfm_threshold (dimension, q1, q3)
SELECT d.dimension, d.q1, d.q3
FROM (
    SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY recency) AS r1,
           percentile_cont(0.75) WITHIN GROUP (ORDER BY recency) AS r3,
           percentile_cont(0.25) WITHIN GROUP (ORDER BY frequency) AS f1,
           percentile_cont(0.75) WITHIN GROUP (ORDER BY frequency) AS f3,
           percentile_cont(0.25) WITHIN GROUP (ORDER BY monetary) AS m1,
           percentile_cont(0.75) WITHIN GROUP (ORDER BY monetary) AS m3
    FROM rfm_raw
) q
CROSS JOIN LATERAL (VALUES ('recency', q.r1, q.r3), ('frequency', q.f1, q.f3), ('monetary', q.m1, q.m3))
    AS d (dimension, q1, q3)
WHERE q.r1 IS NOT NULL;

INSERT INTO rfm_score (user_id, recency, r_score, frequency, f_score, monetary, m_score, total_score,
                       segment, etl_batch_time)
SELECT s.user_id, s.recency, s.r_score, s.frequency, s.f_score, s.monetary, s.m_score,
       s.r_score + s.f_score + s.m_score, seg.segment, %(etl_batch_time)s
FROM (
    SELECT u.*,
           CASE WHEN u.recency < r.q1 THEN 3 WHEN u.recency > r.q3 THEN 1 ELSE 2 END AS r_score,
           CASE WHEN u.frequency < f.q1 THEN 1 WHEN u.frequency > f.q3 THEN 3 ELSE 2 END AS f_score,
           CASE WHEN u.monetary < m.q1 THEN 1 WHEN u.monetary > m.q3 THEN 3 ELSE 2 END AS m_score
    FROM rfm_raw u
    CROSS JOIN (SELECT q1, q3 FROM rfm_threshold WHERE dimension = 'recency') r
    CROSS JOIN (SELECT q1, q3 FROM rfm_threshold WHERE dimension = 'frequency') f
    CROSS JOIN (SELECT q1, q3 FROM rfm_threshold WHERE dimension = 'monetary') m
) s
JOIN unnest(%(seg_r)s::INT[], %(seg_f)s::INT[], %(seg_m)s::INT[], %(seg_name)s::TEXT[])
    AS seg (r, f, m, segment) ON (seg.r, seg.f, seg.m) = (s.r_score, s.f_score, s.m_score);
