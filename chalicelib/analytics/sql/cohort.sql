-- Cohort retention (Table 4.4): a user is active in a month when they have a valid order in it;
-- cohort_month = the user's first active month. Placeholder (a module constant in cohort.py,
-- never input): firsts, one row per active (user, month) with the user's cohort month: the ETL's
-- analytics_active_month for the stored, unfiltered matrix (cohort_retention), or, for a filtered
-- API request, the pairs of aggregated_monthly the filters keep. Filters (null: all): marketplace, shop and region
-- restrict the orders that count; month_to ignores later months (the matrix as it stood at the
-- end of that month); month_from keeps only the cohorts that start from that month (users who
-- first ordered earlier are not re-counted as new).
-- A cohort's size is its users active in month 0.
WITH firsts AS (
    ${firsts}
),
cells AS (
    SELECT cohort_month, month_of_order, count(*) AS active_users
    FROM firsts
    GROUP BY cohort_month, month_of_order
)
SELECT cohort_month, month_offset, cohort_size, active_users
FROM (
    SELECT cohort_month, active_users,
           (substr(month_of_order, 1, 4)::INT * 12 + substr(month_of_order, 6, 2)::INT)
           - (substr(cohort_month, 1, 4)::INT * 12 + substr(cohort_month, 6, 2)::INT) AS month_offset,
           (sum(active_users) FILTER (WHERE month_of_order = cohort_month)
                OVER (PARTITION BY cohort_month))::BIGINT AS cohort_size
    FROM cells
) c
WHERE %(month_from)s::TEXT IS NULL OR cohort_month >= %(month_from)s
