-- Analytics at 1M lines (issue 24): each scored user's RFM inputs, kept by the ETL next to
-- final_user_analysis (one row per user with a valid order): the WIB date of the last valid order,
-- valid orders and rupiah GMV, summed over the user's customer keys. RFM used to aggregate
-- final_user_analysis's 340k wide rows into a temporary table on every run, although only the
-- users whose groups changed can have new totals; a full run rebuilds it, an incremental run
-- rewrites the changed users' rows. Recency is computed from last_order_date as of each batch date.
-- One row per user (the ETL groups by user_id). No index: it is read whole (scores, quartiles) or
-- hashed against a few thousand changed users, and a unique index on user_id (compared through
-- the database locale's strcoll) tripled the cost of a full build's 220k inserts.
CREATE TABLE analytics_user_total (
    user_id         VARCHAR(64) NOT NULL,
    last_order_date DATE        NOT NULL,
    frequency       INTEGER     NOT NULL,
    monetary        BIGINT      NOT NULL
);

-- Filled from the current table, so that the next incremental run starts from a complete table.
INSERT INTO analytics_user_total (user_id, last_order_date, frequency, monetary)
SELECT user_id, (max(last_order_timestamp) AT TIME ZONE 'Asia/Jakarta')::date,
       sum(total_order)::INTEGER, sum(total_gmv_amount)::BIGINT
FROM final_user_analysis
WHERE total_order > 0
GROUP BY user_id;
