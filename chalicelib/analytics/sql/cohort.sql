-- Cohort retention (Table 4.4) from aggregated_monthly: a user is active in a month when they
-- have a valid order in it (any marketplace, shop or region); cohort_month = first active month.
INSERT INTO cohort_retention (cohort_month, month_offset, cohort_size, active_users)
WITH active AS (
    SELECT DISTINCT user_id, month_of_order,
           substr(month_of_order, 1, 4)::INT * 12 + substr(month_of_order, 6, 2)::INT AS month_index
    FROM aggregated_monthly
    WHERE total_order > 0
),
cohort AS (
    SELECT user_id, min(month_of_order) AS cohort_month, min(month_index) AS cohort_index
    FROM active
    GROUP BY user_id
),
sizes AS (
    SELECT cohort_month, count(*) AS cohort_size FROM cohort GROUP BY cohort_month
)
SELECT c.cohort_month, a.month_index - c.cohort_index, s.cohort_size, count(*)
FROM active a
JOIN cohort c USING (user_id)
JOIN sizes s USING (cohort_month)
GROUP BY c.cohort_month, a.month_index - c.cohort_index, s.cohort_size;
