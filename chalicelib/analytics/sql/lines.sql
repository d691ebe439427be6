-- The source lines an ETL run aggregates, read once into two temporary tables that both
-- aggregations (aggregated_monthly and final_user_analysis, sql/aggregate.sql) read: etl_lines,
-- one row per source line with its customer key, month (WIB) and rupiah amounts, and etl_orders,
-- one row per (customer key, month, order) with the order's flags, time, fee and shipping name.
-- Placeholder (a module constant in etl.py, never input): scope, a condition on the source
-- line f (TRUE for a full build; the changed customer keys' lines for an incremental one).
--
-- A line counts ("valid") when it is neither cancelled nor returned; a line both cancelled and
-- returned is cancelled only. Currency: a line's amounts (product GMV and the order's shipping
-- fee) are in the line's currency; rupiah = amount * kurs_rate, converted line by line before
-- anything is summed. Keys, months, order ids and SKUs compare bytewise (COLLATE "C": fast and
-- locale-free).
CREATE TEMP TABLE etl_lines ON COMMIT DROP AS
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
WHERE ${scope};
-- Statistics of the columns the next statements group and filter by (the others' were most of the
-- time: 1M lines at a full build).
ANALYZE etl_lines (customer_key, month_of_order, order_id);

-- An order's shipping fee is repeated on each of its lines: the order's fee and time are those of
-- its valid lines. The shipping name is the order's (order_marketplace).
CREATE TEMP TABLE etl_orders ON COMMIT DROP AS
SELECT o.*, om.address_shipping_name
FROM (
    SELECT customer_key, month_of_order, min(marketplace COLLATE "C") AS marketplace, order_id,
           bool_or(valid) AS valid,
           bool_or(cancelled) AS cancelled,
           bool_or(returned) AS returned,
           max(create_timestamp) FILTER (WHERE valid) AS order_ts,
           max(fee) FILTER (WHERE valid) AS fee
    FROM etl_lines
    GROUP BY customer_key, month_of_order, order_id
) o
LEFT JOIN order_marketplace om
    ON om.marketplace = (o.marketplace COLLATE "default")  -- index-usable
   AND om.order_id = (o.order_id COLLATE "default");
ANALYZE etl_orders (customer_key, month_of_order, order_id);
