-- Cohort retention (Table 4.4) from aggregated_monthly: a user is active in a month when they
-- have a valid order in it; cohort_month = first active month. Filters (null: all): marketplace,
-- shop and region restrict the orders that count; month_to ignores later months (the matrix as it
-- stood at the end of that month); month_from keeps only the cohorts that start from that month
-- (users who first ordered earlier are not re-counted as new). The ETL stores the unfiltered
-- matrix in cohort_retention; a filtered API request runs this query as it is.
-- One pass per user (a window over the user's active months, partitioned bytewise: only equality
-- matters there) instead of joining the active months back to each user's first month; a cohort's
-- size is its users active in month 0.
WITH active AS (
    SELECT user_id, month_of_order,
           substr(month_of_order, 1, 4)::INT * 12 + substr(month_of_order, 6, 2)::INT AS month_index
    FROM aggregated_monthly
    WHERE total_order > 0
      AND (%(marketplace)s::TEXT IS NULL OR marketplace = %(marketplace)s)
      AND (%(shop)s::TEXT IS NULL OR shop_id = %(shop)s)
      AND (%(region)s::TEXT IS NULL OR magpie_region_code = %(region)s)
      AND (%(month_to)s::TEXT IS NULL OR month_of_order <= %(month_to)s)
    GROUP BY user_id, month_of_order
),
firsts AS (
    SELECT month_index, min(month_of_order) OVER w AS cohort_month, min(month_index) OVER w AS cohort_index
    FROM active
    WINDOW w AS (PARTITION BY user_id COLLATE "C")
),
cells AS (
    SELECT cohort_month, month_index - cohort_index AS month_offset, count(*) AS active_users
    FROM firsts
    GROUP BY cohort_month, month_index - cohort_index
)
SELECT cohort_month, month_offset, cohort_size, active_users
FROM (
    SELECT cohort_month, month_offset, active_users,
           (sum(active_users) FILTER (WHERE month_offset = 0) OVER (PARTITION BY cohort_month))::BIGINT AS cohort_size
    FROM cells
) c
WHERE %(month_from)s::TEXT IS NULL OR cohort_month >= %(month_from)s
