-- Customer analytics, round 2: the scoring rule's range (min, max) next to its quartiles, the
-- filter values the API accepts, and a read model for BI tools (Redash, Metabase): views in
-- schema analytics_bi and a read-only role analytics_reader that can read those views and
-- nothing else. docs/analytics.md explains how to connect.

-- The RFM tie rule needs each dimension's smallest and largest value (docs/analytics.md).
ALTER TABLE rfm_threshold ADD COLUMN IF NOT EXISTS min_value NUMERIC;
ALTER TABLE rfm_threshold ADD COLUMN IF NOT EXISTS max_value NUMERIC;

-- The marketplace, shop and region values present in the analytics tables, rebuilt by every ETL
-- run: the API's filters accept exactly these (anything else is a 400), the dashboard lists them.
CREATE TABLE IF NOT EXISTS analytics_filter_value (
    dimension TEXT NOT NULL CHECK (dimension IN ('marketplace', 'shop', 'region')),
    value     TEXT NOT NULL,
    label     TEXT NOT NULL,
    PRIMARY KEY (dimension, value)
);

-- The role is cluster-wide (every database on the server shares it), so it is created only if
-- missing, and a concurrent migration of another database creating it first is not an error.
-- LOGIN without a password: it can connect only once an operator sets one (or, better, grants
-- it to a login role per BI tool); see docs/analytics.md.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'analytics_reader') THEN
        CREATE ROLE analytics_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by another database's migration
END $$;
ALTER ROLE analytics_reader SET default_transaction_read_only = on;
ALTER ROLE analytics_reader SET statement_timeout = '60s';

CREATE SCHEMA IF NOT EXISTS analytics_bi;
REVOKE ALL ON SCHEMA analytics_bi FROM PUBLIC;
COMMENT ON SCHEMA analytics_bi IS 'Read model for BI tools: views over the analytics tables (docs/analytics.md).';

-- Views run with their owner's rights, so the role needs no right on the tables underneath.
-- No personal data: no shipping names, nothing from the lending tables.
CREATE OR REPLACE VIEW analytics_bi.rfm_scores AS
SELECT user_id, recency, frequency, monetary AS monetary_rupiah, r_score, f_score, m_score, total_score,
       segment, etl_batch_time
FROM public.rfm_score;
COMMENT ON VIEW analytics_bi.rfm_scores IS
    'One row per scored buyer (marketplace user id): RFM values, 1-3 scores, segment, as of the ETL batch.';

CREATE OR REPLACE VIEW analytics_bi.rfm_segments AS
SELECT segment, count(*) AS users, sum(monetary)::BIGINT AS gmv_rupiah,
       round(sum(monetary) / nullif(sum(sum(monetary)) OVER (), 0), 4) AS gmv_share,
       round(count(*)::NUMERIC / sum(count(*)) OVER (), 4) AS user_share,
       max(etl_batch_time) AS etl_batch_time
FROM public.rfm_score
GROUP BY segment;
COMMENT ON VIEW analytics_bi.rfm_segments IS 'Users and GMV (rupiah) per RFM segment, with shares of the total.';

CREATE OR REPLACE VIEW analytics_bi.rfm_thresholds AS
SELECT dimension, q1, q3, min_value, max_value FROM public.rfm_threshold;
COMMENT ON VIEW analytics_bi.rfm_thresholds IS 'Quartiles and range per RFM dimension used by the scores.';

CREATE OR REPLACE VIEW analytics_bi.cohort_retention AS
SELECT cohort_month, month_offset, cohort_size, active_users,
       round(active_users::NUMERIC / cohort_size, 4) AS retention
FROM public.cohort_retention;
COMMENT ON VIEW analytics_bi.cohort_retention IS
    'Active users per first-order month (WIB) and months since; the current month is partial.';

CREATE OR REPLACE VIEW analytics_bi.monthly_gmv AS
SELECT month_of_order, marketplace, shop_id, shop_name, magpie_region_code,
       count(DISTINCT user_id) FILTER (WHERE total_order > 0) AS buyers,
       sum(total_order)::BIGINT AS orders,
       sum(total_cancelled)::BIGINT AS cancelled_orders,
       sum(total_returned)::BIGINT AS returned_orders,
       sum(total_gmv_amount)::BIGINT AS gmv_rupiah
FROM public.aggregated_monthly
GROUP BY month_of_order, marketplace, shop_id, shop_name, magpie_region_code;
COMMENT ON VIEW analytics_bi.monthly_gmv IS
    'GMV in rupiah (amount x kurs_rate per line; cancelled and returned lines excluded) per WIB month, '
    'marketplace, shop and region.';

GRANT USAGE ON SCHEMA analytics_bi TO analytics_reader;
GRANT SELECT ON analytics_bi.rfm_scores, analytics_bi.rfm_segments, analytics_bi.rfm_thresholds,
                analytics_bi.cohort_retention, analytics_bi.monthly_gmv TO analytics_reader;
