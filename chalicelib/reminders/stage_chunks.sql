-- A stage's dispatch chunks, built in PostgreSQL from the T-3 selection (selection.py's SQL,
-- wrapped as "sel"): rows in priority order (highest amount due first, then payment id), the
-- first %(capacity)s cut into chunks (size below) as JSON arrays of
-- [payment_id, loan_id, phone, name, amount, due_date, product, postcode]; the rest only counted.
-- One row per chunk; chunk -1 carries the payments over capacity (not placed).
-- stage_worker.py prepends "WITH sel AS (<t3_selection.sql>)," to this text.
ranked AS (
    SELECT row_number() OVER (ORDER BY sel.due_amount DESC, sel.payment_id) AS rn,
           count(*) OVER () AS selected, sel.*
    FROM sel
),
-- a chunk holds at most %(chunk_size)s payments, and few enough that the enqueued payments make at
-- least %(spread)s chunks (one per dispatch container: each keeps only its share of the provider
-- rate), never fewer than %(min_chunk)s
sized AS (
    SELECT ranked.*,
           GREATEST(%(min_chunk)s, LEAST(%(chunk_size)s,
                    CEIL(LEAST(selected, %(capacity)s)::numeric / %(spread)s)))::bigint AS size
    FROM ranked
)
SELECT CASE WHEN rn <= %(capacity)s THEN (rn - 1) / size ELSE -1 END AS chunk,
       count(*) AS payments,
       count(*) FILTER (WHERE zone_fallback) AS zone_fallback,
       (json_agg(json_build_array(payment_id, loan_id, phone, fullname, due_amount, due_date, product_family,
                                  address_kodepos) ORDER BY rn)
            FILTER (WHERE rn <= %(capacity)s))::text AS rows
FROM sized
GROUP BY 1
ORDER BY 1
