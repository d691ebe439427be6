-- Cohort retention (Table 4.4) from aggregated_monthly: a user is active in a month when they
-- have a valid order in it; cohort_month = first active month. Filters (null: all): marketplace,
-- shop and region restrict the orders that count; month_to ignores later months (the matrix as it
-- stood at the end of that month); month_from keeps only the cohorts that start from that month
-- (users who first ordered earlier are not re-counted as new). The ETL stores the unfiltered
-- matrix in cohort_retention; a filtered API request runs this query as it is.
WITH active AS (
    SELECT DISTINCT user_id, month_of_order,
           substr(month_of_order, 1, 4)::INT * 12 + substr(month_of_order, 6, 2)::INT AS month_index
    FROM aggregated_monthly
    WHERE total_order > 0
      AND (%(marketplace)s::TEXT IS NULL OR marketplace = %(marketplace)s)
      AND (%(shop)s::TEXT IS NULL OR shop_id = %(shop)s)
      AND (%(region)s::TEXT IS NULL OR magpie_region_code = %(region)s)
      AND (%(month_to)s::TEXT IS NULL OR month_of_order <= %(month_to)s)
),
cohort AS (
    SELECT user_id, min(month_of_order) AS cohort_month, min(month_index) AS cohort_index
    FROM active
    GROUP BY user_id
),
sizes AS (
    SELECT cohort_month, count(*) AS cohort_size FROM cohort GROUP BY cohort_month
)
SELECT c.cohort_month, a.month_index - c.cohort_index AS month_offset, s.cohort_size, count(*) AS active_users
FROM active a
JOIN cohort c USING (user_id)
JOIN sizes s USING (cohort_month)
WHERE %(month_from)s::TEXT IS NULL OR c.cohort_month >= %(month_from)s
GROUP BY c.cohort_month, a.month_index - c.cohort_index, s.cohort_size
