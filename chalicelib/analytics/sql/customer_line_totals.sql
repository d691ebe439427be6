-- A full build's line-level columns per customer key, folded from its months (etl_monthly_lines,
-- sql/full_lines.sql) instead of aggregating every source line again: the smallest/largest of
-- the months' times and rates, the sums of their GMV and quantities, and the union of their
-- sku_lists (distinct, sorted bytewise). Each month is unnested into its SKUs (one row, n NULL,
-- when it has none): sums count a month's first row only. The months are read in customer-key
-- order (they were written in it, so the sort finds them sorted), which the aggregation keeps.
SELECT m.customer_key,
       min(m.marketplace COLLATE "C") AS marketplace, min(m.shop_id COLLATE "C") AS shop_id,
       min(m.shop_name COLLATE "C") AS shop_name, min(m.user_id COLLATE "C") AS user_id,
       min(m.magpie_region_code COLLATE "C") AS magpie_region_code,
       max(m.kurs_rate) AS kurs_rate,
       min(m.first_order_timestamp) AS first_order_timestamp,
       max(m.last_order_timestamp) AS last_order_timestamp,
       sum(m.total_gmv_amount) FILTER (WHERE s.n IS NULL OR s.n = 1)::BIGINT AS total_gmv_amount,
       coalesce(array_agg(DISTINCT s.sku COLLATE "C" ORDER BY s.sku COLLATE "C") FILTER (WHERE s.n IS NOT NULL),
                '{}') AS sku_list,
       sum(m.total_quantity) FILTER (WHERE s.n IS NULL OR s.n = 1)::BIGINT AS total_quantity
FROM (SELECT * FROM etl_monthly_lines ORDER BY customer_key) m
LEFT JOIN LATERAL unnest(m.sku_list) WITH ORDINALITY AS s (sku, n) ON TRUE
GROUP BY m.customer_key
