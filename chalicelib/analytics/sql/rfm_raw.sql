-- A filtered request's RFM inputs per user_id (Table 4.3), from the groups of aggregated_monthly
-- the filters keep (months can be filtered there), into the temporary table raw (a module
-- constant in rfm.py, never input). The ETL's own population, everybody, reads the same columns
-- from analytics_user_total, which it keeps up to date (etl.py).
-- Users with no valid order (only cancelled / returned ones) are not scored.
-- recency = batch date - date of the last valid order (both in WIB), never below 0.
CREATE TEMP TABLE ${raw} ON COMMIT DROP AS
SELECT user_id,
       greatest(0, %(as_of)s::date - max((last_order_timestamp AT TIME ZONE 'Asia/Jakarta')::date)) AS recency,
       sum(total_order)::INTEGER AS frequency,
       sum(total_gmv_amount)::BIGINT AS monetary
FROM aggregated_monthly
WHERE total_order > 0
  AND (%(marketplace)s::TEXT IS NULL OR marketplace = %(marketplace)s)
  AND (%(shop)s::TEXT IS NULL OR shop_id = %(shop)s)
  AND (%(region)s::TEXT IS NULL OR magpie_region_code = %(region)s)
  AND (%(month_from)s::TEXT IS NULL OR month_of_order >= %(month_from)s)
  AND (%(month_to)s::TEXT IS NULL OR month_of_order <= %(month_to)s)
GROUP BY user_id
