-- The line-level columns of Table 4.2 per group (group_cols: customer key and month, or customer
-- key), from the lines placeholder (etl_lines, or the source lines of sql/source_lines.sql for a
-- full build's months); scope: a condition on the group (the groups this run replaces).
-- total_sku / sku_list = distinct product:variant pairs of valid lines, sorted bytewise;
-- total_quantity = valid lines with a barcode (one line is one item); money in rupiah.
-- The key columns are equal within a group (its customer key is their md5): min() only picks the
-- one value, bytewise (COLLATE "C"), not through the database locale's strcoll.
SELECT ${group_cols},
       min(marketplace COLLATE "C") AS marketplace, min(shop_id COLLATE "C") AS shop_id,
       min(shop_name COLLATE "C") AS shop_name, min(user_id COLLATE "C") AS user_id,
       min(magpie_region_code COLLATE "C") AS magpie_region_code,
       max(kurs_rate) AS kurs_rate,
       min(create_timestamp) FILTER (WHERE valid) AS first_order_timestamp,
       max(create_timestamp) FILTER (WHERE valid) AS last_order_timestamp,
       coalesce(sum(gmv_rupiah) FILTER (WHERE valid), 0)::BIGINT AS total_gmv_amount,
       coalesce(array_agg(DISTINCT sku ORDER BY sku) FILTER (WHERE valid), '{}') AS sku_list,
       count(marketplace_product_barcode) FILTER (WHERE valid) AS total_quantity
FROM ${lines}
WHERE ${scope}
GROUP BY ${group_cols}
