-- Analytics at 1M lines (issue 24). analytics_month and analytics_customer_key were declared
-- IMMUTABLE around bodies that are only STABLE (to_char and concat_ws depend on session settings
-- in general), and PostgreSQL never inlines a function whose body is more volatile than its
-- declaration: every call ran as a separate SQL-function execution, twice per source line in each
-- aggregation of the ETL and in every change-capture trigger (1M lines: 7.7 s for the month and
-- 12.0 s for the key vs 1.9 s and 5.8 s inlined, same data, same session, medians of 3 under load).
-- Declared STABLE, what their bodies are, they are inlined into each query; the results are the
-- same (no index or generated column uses them).
ALTER FUNCTION analytics_month(TIMESTAMPTZ) STABLE;
ALTER FUNCTION analytics_customer_key(TEXT, TEXT, TEXT, TEXT, TEXT) STABLE;
