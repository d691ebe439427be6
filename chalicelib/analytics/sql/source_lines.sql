-- One row per source line an ETL run aggregates: its customer key, month (WIB), rupiah amounts and
-- flags. Placeholder (a module constant in etl.py, never input): scope, a condition on the source
-- line f (TRUE for a full build; the changed customer keys' lines for an incremental one).
--
-- A line counts ("valid") when it is neither cancelled nor returned; a line both cancelled and
-- returned is cancelled only. Currency: a line's amounts (product GMV and the order's shipping
-- fee) are in the line's currency; rupiah = amount * kurs_rate, converted line by line before
-- anything is summed. Keys, months, order ids and SKUs compare bytewise (COLLATE "C": fast and
-- locale-free).
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
