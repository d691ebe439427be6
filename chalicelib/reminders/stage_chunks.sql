-- A stage's dispatch chunks, built in PostgreSQL from the T-3 selection (selection.py's SQL,
-- wrapped as "sel"). One contact per borrower per slot: the payments of one contact_key are one
-- contact, led by its lowest payment id ("contact"), and always travel in the same chunk. Contacts
-- in priority order (highest total due first, then the leader's payment id); the first
-- %(capacity)s contacts cut into chunks (size below) as JSON arrays of
-- [payment_id, loan_id, phone, name, amount, due_date, product, postcode, contact]; the rest only
-- counted. One row per chunk, with its payment ids; chunk -1 carries the payments over capacity (not placed).
-- stage_worker.py prepends "WITH sel AS (<t3_selection.sql>)," to this text.
grouped AS (
    SELECT sel.*,
           min(payment_id) OVER (PARTITION BY contact_key) AS contact,
           sum(due_amount) OVER (PARTITION BY contact_key) AS contact_due
    FROM sel
),
ranked AS (
    SELECT dense_rank() OVER (ORDER BY contact_due DESC, contact) AS rn, grouped.*
    FROM grouped
),
counted AS (
    SELECT ranked.*, max(rn) OVER () AS contacts
    FROM ranked
),
-- a chunk holds at most %(chunk_size)s contacts, and few enough that the enqueued contacts make at
-- least %(spread)s chunks (one per dispatch container: all of them have calls in flight on the
-- provider grid they share), never fewer than %(min_chunk)s
sized AS (
    SELECT counted.*,
           GREATEST(%(min_chunk)s, LEAST(%(chunk_size)s,
                    CEIL(LEAST(contacts, %(capacity)s)::numeric / %(spread)s)))::bigint AS size
    FROM counted
)
SELECT CASE WHEN rn <= %(capacity)s THEN (rn - 1) / size ELSE -1 END AS chunk,
       count(*) AS payments,
       count(*) FILTER (WHERE zone_fallback) AS zone_fallback,
       (json_agg(json_build_array(payment_id, loan_id, phone, fullname, due_amount, due_date, product_family,
                                  address_kodepos, contact) ORDER BY rn, payment_id)
            FILTER (WHERE rn <= %(capacity)s))::text AS rows,
       array_agg(payment_id ORDER BY rn, payment_id) AS payment_ids
FROM sized
GROUP BY 1
ORDER BY 1
