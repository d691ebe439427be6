-- Customer analytics (report 004): source tables (Table 4.1), ETL outputs (Table 4.2),
-- and the change capture that makes the daily ETL incremental.

-- The report's month and day boundaries are Indonesian business days: Asia/Jakarta (WIB).
CREATE FUNCTION analytics_month(ts TIMESTAMPTZ) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_char(ts AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM');

-- customer_key: one id for (marketplace, shop, user, region), as Table 4.2 describes.
CREATE FUNCTION analytics_customer_key(marketplace TEXT, shop_id TEXT, shop_name TEXT,
                                       user_id TEXT, magpie_region_code TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN md5(concat_ws(E'\x1f', marketplace, shop_id, shop_name, user_id, magpie_region_code));

-- One row per order item (the data mart's flattened orders). Flags are 'Y' / 'N'.
-- Money is integer rupiah (BIGINT); the shipping fee is the order's, repeated on each of its lines.
CREATE TABLE flatten_order_marketplace (
    order_line_id                   BIGSERIAL PRIMARY KEY,
    marketplace                     VARCHAR(32)  NOT NULL,
    shop_id                         VARCHAR(64)  NOT NULL,
    shop_name                       VARCHAR(200) NOT NULL,
    user_id                         VARCHAR(64)  NOT NULL,
    magpie_region_code              VARCHAR(16)  NOT NULL,
    kurs_rate                       INTEGER      NOT NULL DEFAULT 1 CHECK (kurs_rate > 0),
    create_timestamp                TIMESTAMPTZ  NOT NULL,
    cancelled_flag                  VARCHAR(1)   NOT NULL DEFAULT 'N' CHECK (cancelled_flag IN ('Y', 'N')),
    returned_flag                   VARCHAR(1)   NOT NULL DEFAULT 'N' CHECK (returned_flag IN ('Y', 'N')),
    order_id                        VARCHAR(64)  NOT NULL,
    product_gmv_amount              BIGINT       NOT NULL CHECK (product_gmv_amount >= 0),
    marketplace_product_id          VARCHAR(64)  NOT NULL,
    marketplace_variant_id          VARCHAR(64)  NOT NULL,
    marketplace_product_barcode     VARCHAR(64),
    order_shipping_fee_buyer_amount BIGINT       NOT NULL DEFAULT 0 CHECK (order_shipping_fee_buyer_amount >= 0)
);
CREATE INDEX flatten_order_marketplace_user_idx
    ON flatten_order_marketplace (user_id, marketplace, shop_id);
CREATE INDEX flatten_order_marketplace_order_idx
    ON flatten_order_marketplace (marketplace, order_id);

CREATE TABLE order_marketplace (
    marketplace           VARCHAR(32)  NOT NULL,
    order_id              VARCHAR(64)  NOT NULL,
    address_shipping_name VARCHAR(200),
    PRIMARY KEY (marketplace, order_id)
);

-- Table 4.2. One row per customer key and month of order (WIB).
CREATE TABLE aggregated_monthly (
    customer_key          TEXT         NOT NULL,
    marketplace           VARCHAR(32)  NOT NULL,
    shop_id               VARCHAR(64)  NOT NULL,
    shop_name             VARCHAR(200) NOT NULL,
    user_id               VARCHAR(64)  NOT NULL,
    month_of_order        VARCHAR(7)   NOT NULL,
    magpie_region_code    VARCHAR(16)  NOT NULL,
    kurs_rate             INTEGER      NOT NULL,
    first_order_timestamp TIMESTAMPTZ,
    last_order_timestamp  TIMESTAMPTZ,
    total_order           INTEGER      NOT NULL,
    total_cancelled       INTEGER      NOT NULL,
    total_returned        INTEGER      NOT NULL,
    total_gmv_amount      BIGINT       NOT NULL,
    total_sku             INTEGER      NOT NULL,
    sku_list              TEXT[]       NOT NULL,
    total_quantity        INTEGER      NOT NULL,
    address_shipping_name VARCHAR(200),
    min_shipping_amount   BIGINT,
    max_shipping_amount   BIGINT,
    avg_shipping_amount   BIGINT,
    load_timestamp        TIMESTAMPTZ  NOT NULL,
    etl_batch_time        TIMESTAMPTZ  NOT NULL,
    PRIMARY KEY (customer_key, month_of_order)
);
CREATE INDEX aggregated_monthly_user_idx ON aggregated_monthly (user_id, month_of_order);

-- Same without the month.
CREATE TABLE final_user_analysis (
    customer_key          TEXT         PRIMARY KEY,
    marketplace           VARCHAR(32)  NOT NULL,
    shop_id               VARCHAR(64)  NOT NULL,
    shop_name             VARCHAR(200) NOT NULL,
    user_id               VARCHAR(64)  NOT NULL,
    magpie_region_code    VARCHAR(16)  NOT NULL,
    kurs_rate             INTEGER      NOT NULL,
    first_order_timestamp TIMESTAMPTZ,
    last_order_timestamp  TIMESTAMPTZ,
    total_order           INTEGER      NOT NULL,
    total_cancelled       INTEGER      NOT NULL,
    total_returned        INTEGER      NOT NULL,
    total_gmv_amount      BIGINT       NOT NULL,
    total_sku             INTEGER      NOT NULL,
    sku_list              TEXT[]       NOT NULL,
    total_quantity        INTEGER      NOT NULL,
    address_shipping_name VARCHAR(200),
    min_shipping_amount   BIGINT,
    max_shipping_amount   BIGINT,
    avg_shipping_amount   BIGINT,
    load_timestamp        TIMESTAMPTZ  NOT NULL,
    etl_batch_time        TIMESTAMPTZ  NOT NULL
);
CREATE INDEX final_user_analysis_user_idx ON final_user_analysis (user_id);

-- Change capture: every statement that inserts, updates or deletes source rows records the
-- (customer key, month) groups it touched -- old and new values, so a row that moves between
-- groups refreshes both. The daily ETL recomputes exactly these groups and then forgets them.
CREATE TABLE analytics_changed_group (
    marketplace        VARCHAR(32)  NOT NULL,
    shop_id            VARCHAR(64)  NOT NULL,
    shop_name          VARCHAR(200) NOT NULL,
    user_id            VARCHAR(64)  NOT NULL,
    magpie_region_code VARCHAR(16)  NOT NULL,
    month_of_order     VARCHAR(7)   NOT NULL
);

CREATE FUNCTION analytics_capture_new_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_changed_group
    SELECT DISTINCT marketplace, shop_id, shop_name, user_id, magpie_region_code, analytics_month(create_timestamp)
    FROM new_rows;
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_capture_old_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_changed_group
    SELECT DISTINCT marketplace, shop_id, shop_name, user_id, magpie_region_code, analytics_month(create_timestamp)
    FROM old_rows;
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_capture_changed_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_changed_group
    SELECT marketplace, shop_id, shop_name, user_id, magpie_region_code, analytics_month(create_timestamp)
    FROM old_rows
    UNION
    SELECT marketplace, shop_id, shop_name, user_id, magpie_region_code, analytics_month(create_timestamp)
    FROM new_rows;
    RETURN NULL;
END $$;

CREATE TRIGGER flatten_order_marketplace_inserted AFTER INSERT ON flatten_order_marketplace
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_capture_new_lines();
CREATE TRIGGER flatten_order_marketplace_updated AFTER UPDATE ON flatten_order_marketplace
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_capture_changed_lines();
CREATE TRIGGER flatten_order_marketplace_deleted AFTER DELETE ON flatten_order_marketplace
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_capture_old_lines();

-- An order's shipping name feeds address_shipping_name of every group holding its lines.
CREATE FUNCTION analytics_capture_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_changed_group
    SELECT DISTINCT f.marketplace, f.shop_id, f.shop_name, f.user_id, f.magpie_region_code,
           analytics_month(f.create_timestamp)
    FROM changed_orders o
    JOIN flatten_order_marketplace f ON f.marketplace = o.marketplace AND f.order_id = o.order_id;
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_capture_orders_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_changed_group
    SELECT DISTINCT f.marketplace, f.shop_id, f.shop_name, f.user_id, f.magpie_region_code,
           analytics_month(f.create_timestamp)
    FROM new_orders o
    JOIN flatten_order_marketplace f ON f.marketplace = o.marketplace AND f.order_id = o.order_id;
    RETURN NULL;
END $$;

CREATE TRIGGER order_marketplace_inserted AFTER INSERT ON order_marketplace
    REFERENCING NEW TABLE AS new_orders FOR EACH STATEMENT EXECUTE FUNCTION analytics_capture_orders_new();
CREATE FUNCTION analytics_capture_orders_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_changed_group
    SELECT DISTINCT f.marketplace, f.shop_id, f.shop_name, f.user_id, f.magpie_region_code,
           analytics_month(f.create_timestamp)
    FROM (SELECT marketplace, order_id FROM old_orders UNION SELECT marketplace, order_id FROM new_orders) o
    JOIN flatten_order_marketplace f ON f.marketplace = o.marketplace AND f.order_id = o.order_id;
    RETURN NULL;
END $$;

CREATE TRIGGER order_marketplace_updated AFTER UPDATE ON order_marketplace
    REFERENCING OLD TABLE AS old_orders NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_capture_orders_updated();
CREATE TRIGGER order_marketplace_deleted AFTER DELETE ON order_marketplace
    REFERENCING OLD TABLE AS changed_orders FOR EACH STATEMENT EXECUTE FUNCTION analytics_capture_orders();

-- One row per ETL run: what the API reports as "as of".
CREATE TABLE analytics_etl_run (
    etl_run_id       BIGSERIAL   PRIMARY KEY,
    etl_batch_time   TIMESTAMPTZ NOT NULL,
    mode             TEXT        NOT NULL CHECK (mode IN ('full', 'incremental')),
    groups_refreshed BIGINT      NOT NULL,
    users_scored     BIGINT      NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ NOT NULL
);

-- RFM per user (Table 4.3), rebuilt by every ETL run as of its batch date.
CREATE TABLE rfm_score (
    user_id      VARCHAR(64) PRIMARY KEY,
    recency      INTEGER     NOT NULL,
    r_score      SMALLINT    NOT NULL CHECK (r_score BETWEEN 1 AND 3),
    frequency    INTEGER     NOT NULL,
    f_score      SMALLINT    NOT NULL CHECK (f_score BETWEEN 1 AND 3),
    monetary     BIGINT      NOT NULL,
    m_score      SMALLINT    NOT NULL CHECK (m_score BETWEEN 1 AND 3),
    total_score  SMALLINT    NOT NULL CHECK (total_score = r_score + f_score + m_score),
    segment      TEXT        NOT NULL,
    etl_batch_time TIMESTAMPTZ NOT NULL
);
CREATE INDEX rfm_score_rank_idx ON rfm_score (total_score DESC, user_id);
CREATE INDEX rfm_score_segment_idx ON rfm_score (segment, total_score DESC, user_id);

-- The quartile thresholds the scores used (one row per dimension).
CREATE TABLE rfm_threshold (
    dimension TEXT   PRIMARY KEY CHECK (dimension IN ('recency', 'frequency', 'monetary')),
    q1        NUMERIC NOT NULL,
    q3        NUMERIC NOT NULL
);

-- Cohort retention (Table 4.4): cohort_month = month of the user's first order.
CREATE TABLE cohort_retention (
    cohort_month  VARCHAR(7) NOT NULL,
    month_offset  INTEGER    NOT NULL CHECK (month_offset >= 0),
    cohort_size   INTEGER    NOT NULL,
    active_users  INTEGER    NOT NULL,
    PRIMARY KEY (cohort_month, month_offset)
);
