-- One row per (customer key, month, order) of the run's lines (placeholder lines: etl_lines, or the
-- source lines themselves, sql/source_lines.sql, for a full build), with the order's flags, time,
-- fee and shipping name. An order's shipping fee is repeated on each of its lines: the order's fee
-- and time are those of its valid lines. The shipping name is the order's (order_marketplace).
SELECT o.*, om.address_shipping_name
FROM (
    SELECT customer_key, month_of_order, min(marketplace COLLATE "C") AS marketplace, order_id,
           bool_or(valid) AS valid,
           bool_or(cancelled) AS cancelled,
           bool_or(returned) AS returned,
           max(create_timestamp) FILTER (WHERE valid) AS order_ts,
           max(fee) FILTER (WHERE valid) AS fee
    FROM ${lines}
    GROUP BY customer_key, month_of_order, order_id
) o
LEFT JOIN order_marketplace om
    ON om.marketplace = (o.marketplace COLLATE "default")  -- index-usable
   AND om.order_id = (o.order_id COLLATE "default")
