-- The source lines an incremental ETL run aggregates, read once into two temporary tables that both
-- aggregations (aggregated_monthly and final_user_analysis, sql/aggregate.sql) read: etl_lines,
-- one row per source line (sql/source_lines.sql: customer key, month, rupiah amounts, flags), and
-- etl_orders, one row per (customer key, month, order) (sql/orders.sql). Placeholders (module
-- constants in etl.py): source_lines (scoped to the changed customer keys) and orders (over
-- etl_lines). A full build reads the source differently: sql/full_lines.sql.
CREATE TEMP TABLE etl_lines ON COMMIT DROP AS
${source_lines};
-- Statistics of the columns the next statements group and filter by (the others' were most of the
-- time: 1M lines at a full build).
ANALYZE etl_lines (customer_key, month_of_order, order_id);

CREATE TEMP TABLE etl_orders ON COMMIT DROP AS
${orders};
ANALYZE etl_orders (customer_key, month_of_order, order_id);
