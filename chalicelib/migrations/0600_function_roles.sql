-- One PostgreSQL role per function group (chalicelib/database_roles.py). What each may do is the
-- grant map, chalicelib/database_grants.yaml, applied by `python -m chalicelib.db migrate` after
-- the migrations (every time: the map is the truth, not the history of GRANT statements).
--
-- Roles are cluster-wide (every database on the server shares them), so each is created only if
-- missing. LOGIN without a password: a role can connect only once its password is set
-- (`python -m chalicelib.database_roles provision-secrets`, which also stores it in the role's
-- Secrets Manager secret); on RDS every login needs one. None may create anything, bypass row
-- security, or own what it writes: the tables belong to the migration runner.
DO $$
DECLARE
    r TEXT;
BEGIN
    FOREACH r IN ARRAY ARRAY['julo_api', 'julo_reminders', 'julo_disbursements', 'julo_report', 'julo_analytics'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION '
                           'NOBYPASSRLS', r);
        END IF;
        -- a runaway statement of a function ends instead of holding the database
        EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', r, '15min');
    END LOOP;
END $$;

-- Objects are created in `public`; since PostgreSQL 15 nobody but the owner may create there.
-- Older servers (and RDS parameter groups that kept the old default) still let PUBLIC create:
-- the function roles must not.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
