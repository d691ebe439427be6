-- Analytics at 1M lines (issue 24): the months (WIB) in which each user had a valid order, each
-- with the user's first such month (their cohort), kept by the ETL next to aggregated_monthly.
-- The stored cohort matrix is a count over it, instead of finding the distinct (user, month) pairs
-- among aggregated_monthly's wide rows, and each user's first month, on every run. A full run
-- rebuilds it from aggregated_monthly; an incremental run rewrites the rows of the users whose
-- groups changed, from their source lines. One row per pair (the ETL writes them distinct). No
-- index: it is read whole (the count) or scanned once for an incremental run's few thousand
-- users, and a full build writes 400k+ rows.
CREATE TABLE analytics_active_month (
    user_id        VARCHAR(64) NOT NULL,
    month_of_order VARCHAR(7)  NOT NULL,
    cohort_month   VARCHAR(7)  NOT NULL
);

-- Filled from the current tables, so that the next incremental run starts from a complete table.
INSERT INTO analytics_active_month (user_id, month_of_order, cohort_month)
SELECT user_id, month_of_order, min(month_of_order) OVER (PARTITION BY user_id)
FROM (SELECT DISTINCT user_id, month_of_order FROM aggregated_monthly WHERE total_order > 0) pairs;
