-- Table 4.2 aggregation, shared by aggregated_monthly (grouped by customer key and month) and
-- final_user_analysis (grouped by customer key only). Placeholders, filled from module constants
-- in etl.py (never from input): target, group_cols, month_select, line_totals (the line-level
-- columns per group: sql/line_totals.sql over etl_lines, or, in a full build, the months of
-- etl_monthly_lines as they are or folded per customer key, sql/customer_line_totals.sql), orders
-- (etl_orders for the monthly table; for the customer-key table, etl_orders folded per order
-- across months: an order whose lines span two months counts once) and scope (a condition on the
-- group: the groups this run replaces).
--
-- Orders are counted once per group: total_order = orders with a valid line, total_cancelled =
-- orders with a cancelled line, total_returned = orders with a returned (and not cancelled) line.
-- Shipping fees are per order, so min/max/avg run over valid orders. address_shipping_name is
-- that of the latest valid order; ties break on order_id.
INSERT INTO ${target}
WITH order_totals AS (
    SELECT ${group_cols},
           count(*) FILTER (WHERE valid) AS total_order,
           count(*) FILTER (WHERE cancelled) AS total_cancelled,
           count(*) FILTER (WHERE returned) AS total_returned,
           min(fee) FILTER (WHERE valid) AS min_shipping_amount,
           max(fee) FILTER (WHERE valid) AS max_shipping_amount,
           round(avg(fee) FILTER (WHERE valid))::BIGINT AS avg_shipping_amount,
           (array_agg(address_shipping_name ORDER BY order_ts DESC, order_id DESC)
                FILTER (WHERE valid))[1] AS address_shipping_name
    FROM ${orders}
    WHERE ${scope}
    GROUP BY ${group_cols}
),
line_totals AS (
${line_totals}
)
SELECT l.customer_key, l.marketplace, l.shop_id, l.shop_name, l.user_id, ${month_select}
       l.magpie_region_code, l.kurs_rate,
       l.first_order_timestamp, l.last_order_timestamp,
       o.total_order, o.total_cancelled, o.total_returned,
       l.total_gmv_amount, cardinality(l.sku_list), l.sku_list, l.total_quantity,
       o.address_shipping_name,
       o.min_shipping_amount, o.max_shipping_amount, o.avg_shipping_amount,
       now(), %(etl_batch_time)s
FROM line_totals l
JOIN order_totals o USING (${group_cols})
ORDER BY ${group_cols}  -- the primary key's order: the index is filled from left to right
