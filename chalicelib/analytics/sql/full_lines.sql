-- What a full build reads from the source, into two temporary tables: etl_monthly_lines (the
-- line-level columns of every (customer key, month) group, sql/line_totals.sql) and etl_orders
-- (sql/orders.sql). Placeholders (module constants in etl.py): monthly_lines and orders, both
-- over every source line (sql/source_lines.sql).
--
-- Both read the source table itself rather than a temporary copy of its lines: a temporary table
-- is never scanned by parallel workers, the source is, so each read, its md5 key and WIB month per
-- line and the sort of the lines by group (months) or its first aggregation step (orders) run on
-- the parallel workers; the leader merges and finishes the groups. No 1M-row temporary table of
-- lines is written at all; the customer-key table is folded from the months
-- (sql/customer_line_totals.sql).
CREATE TEMP TABLE etl_monthly_lines ON COMMIT DROP AS
${monthly_lines};
ANALYZE etl_monthly_lines (customer_key, month_of_order);

CREATE TEMP TABLE etl_orders ON COMMIT DROP AS
${orders};
ANALYZE etl_orders (customer_key, month_of_order, order_id);
