-- Table 4.2 aggregation, shared by aggregated_monthly (grouped by customer key and month) and
-- final_user_analysis (grouped by customer key only). Placeholders (filled from module
-- constants in etl.py, never from input): ${target}, ${group_cols}, ${month_select}, ${scope}.
--
-- A line counts ("valid") when it is neither cancelled nor returned. Orders are counted once
-- per group: total_order = orders with a valid line, total_cancelled = orders with a cancelled
-- line, total_returned = orders with a returned (and not cancelled) line. Shipping fees are per
-- order (the order's fee is repeated on its lines), so min/max/avg run over valid orders.
-- total_sku = distinct product:variant pairs of valid lines, total_quantity = valid lines with a
-- barcode (one line is one item). address_shipping_name is that of the latest valid order.
-- Ties break on order_id; keys and lists sort bytewise (COLLATE "C": fast and locale-free).
-- Currency: a line's amounts (product GMV and the order's shipping fee) are in the line's
-- currency; rupiah = amount * kurs_rate, converted line by line before anything is summed.
-- A line both cancelled and returned is cancelled only (never counted in total_returned).
INSERT INTO ${target}
WITH lines AS (
    SELECT analytics_customer_key(f.marketplace, f.shop_id, f.shop_name, f.user_id, f.magpie_region_code)
               COLLATE "C" AS customer_key,
           f.marketplace, f.shop_id, f.shop_name, f.user_id, f.magpie_region_code,
           analytics_month(f.create_timestamp) COLLATE "C" AS month_of_order,
           f.order_id COLLATE "C" AS order_id, f.create_timestamp, f.kurs_rate,
           f.product_gmv_amount * f.kurs_rate AS gmv_rupiah,
           (f.marketplace_product_id || ':' || f.marketplace_variant_id) COLLATE "C" AS sku,
           f.marketplace_product_barcode,
           f.order_shipping_fee_buyer_amount * f.kurs_rate AS fee,
           f.cancelled_flag = 'Y' AS cancelled,
           f.cancelled_flag = 'N' AND f.returned_flag = 'Y' AS returned,
           f.cancelled_flag = 'N' AND f.returned_flag = 'N' AS valid
    FROM flatten_order_marketplace f
    WHERE ${scope}
),
orders AS (
    SELECT o.*, om.address_shipping_name
    FROM (
        SELECT ${group_cols}, min(marketplace) AS marketplace, order_id,
               bool_or(valid) AS valid,
               bool_or(cancelled) AS cancelled,
               bool_or(returned) AS returned,
               max(create_timestamp) FILTER (WHERE valid) AS order_ts,
               max(fee) FILTER (WHERE valid) AS fee
        FROM lines
        GROUP BY ${group_cols}, order_id
    ) o
    LEFT JOIN order_marketplace om
        ON om.marketplace = o.marketplace AND om.order_id = (o.order_id COLLATE "default")  -- index-usable
),
order_totals AS MATERIALIZED (  -- computed once even when the planner misjudges the scope as tiny
    SELECT ${group_cols},
           count(*) FILTER (WHERE valid) AS total_order,
           count(*) FILTER (WHERE cancelled) AS total_cancelled,
           count(*) FILTER (WHERE returned) AS total_returned,
           min(fee) FILTER (WHERE valid) AS min_shipping_amount,
           max(fee) FILTER (WHERE valid) AS max_shipping_amount,
           round(avg(fee) FILTER (WHERE valid))::BIGINT AS avg_shipping_amount,
           (array_agg(address_shipping_name ORDER BY order_ts DESC, order_id DESC)
                FILTER (WHERE valid))[1] AS address_shipping_name
    FROM orders
    GROUP BY ${group_cols}
),
line_totals AS MATERIALIZED (
    SELECT ${group_cols},
           min(marketplace) AS marketplace, min(shop_id) AS shop_id, min(shop_name) AS shop_name,
           min(user_id) AS user_id, min(magpie_region_code) AS magpie_region_code,
           max(kurs_rate) AS kurs_rate,
           min(create_timestamp) FILTER (WHERE valid) AS first_order_timestamp,
           max(create_timestamp) FILTER (WHERE valid) AS last_order_timestamp,
           coalesce(sum(gmv_rupiah) FILTER (WHERE valid), 0)::BIGINT AS total_gmv_amount,
           coalesce(array_agg(DISTINCT sku ORDER BY sku) FILTER (WHERE valid), '{}') AS sku_list,
           count(marketplace_product_barcode) FILTER (WHERE valid) AS total_quantity
    FROM lines
    GROUP BY ${group_cols}
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
