-- RFM scores (Table 4.3): one row per user of raw in rfm_score's columns, scored by the
-- quartiles in thresholds (sql/rfm_thresholds.sql). Placeholders (module constants in rfm.py,
-- never input): raw, a relation or a parenthesized SELECT of (user_id, recency, frequency,
-- monetary), and thresholds. A SELECT: the ETL updates rfm_score from it in place, a filtered
-- request inserts it into its temporary table.
-- Each dimension is scored by its own quartiles with the report's rule, value < Q1 -> 1,
-- Q1 <= value <= Q3 -> 2, value > Q3 -> 3, plus the tie rule (docs/analytics.md): a quartile equal
-- to the smallest value takes the users tied there into bin 1 (value = Q1 = min -> 1), and one
-- equal to the largest value takes them into bin 3 (value = Q3 = max -> 3); bin 1 is tested
-- first, so with no spread everybody is in bin 1. Recency is the other way round (fewer days is
-- better): r_score = 4 - bin.
-- Scores are computed once (MATERIALIZED: not re-evaluated for each use), then named by their
-- pattern's place in the segments parameter (rfm.py: _segment_params). No join there: the
-- planner estimated a join on the three scores at one row, and updated rfm_score from that
-- through 220k index lookups.
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
       (s.r_score + s.f_score + s.m_score)::SMALLINT AS total_score,
       (%(segments)s::TEXT[])[(s.r_score - 1) * 9 + (s.f_score - 1) * 3 + s.m_score] AS segment,
       %(etl_batch_time)s::TIMESTAMPTZ AS etl_batch_time
FROM s
