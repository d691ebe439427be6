-- A stage's dispatch chunks, built in PostgreSQL from the T-3 selection (selection.py's SQL,
-- wrapped as "sel"): rows in priority order (highest amount due first, then payment id), the
-- first %(capacity)s cut into chunks of %(chunk_size)s as JSON arrays of
-- [payment_id, loan_id, phone, name, amount, due_date, product, postcode]; the rest only counted.
-- One row per chunk; chunk -1 carries the payments over capacity (not placed).
-- stage_worker.py prepends "WITH sel AS (<t3_selection.sql>)," to this text.
ranked AS (
    SELECT row_number() OVER (ORDER BY sel.due_amount DESC, sel.payment_id) AS rn, sel.*
    FROM sel
)
SELECT CASE WHEN rn <= %(capacity)s THEN (rn - 1) / %(chunk_size)s ELSE -1 END AS chunk,
       count(*) AS payments,
       count(*) FILTER (WHERE zone_fallback) AS zone_fallback,
       (json_agg(json_build_array(payment_id, loan_id, phone, fullname, due_amount, due_date, product_family,
                                  address_kodepos) ORDER BY rn)
            FILTER (WHERE rn <= %(capacity)s))::text AS rows
FROM ranked
GROUP BY 1
ORDER BY 1
