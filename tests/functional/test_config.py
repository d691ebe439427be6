import json

import pytest

from chalicelib import config, settings


def test_database_url_from_env_wins(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@h/db")
    monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:ap-southeast-3:0:secret:x")
    assert settings.database_url() == "postgresql://a@h/db"


def test_database_url_from_rds_secret(aws, monkeypatch):
    secret = {"username": "app", "password": "p@ss/word", "host": "db.internal", "port": 5432, "dbname": "julo"}
    sm = settings.aws_clients().client("secretsmanager")
    arn = sm.create_secret(Name="julo-db", SecretString=json.dumps(secret))["ARN"]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    config.forget_database_secret()
    # the password is URL-quoted; TLS with the server certificate verified against the RDS CAs
    url = settings.database_url()
    assert url.startswith("postgresql://app:p%40ss%2Fword@db.internal:5432/julo?sslmode=verify-full&sslrootcert=")
    assert url.endswith("rds-ca-ap-southeast-3.pem")
    assert config.RDS_CA_BUNDLE.read_text().count("BEGIN CERTIFICATE") == 3


def test_a_plain_url_secret_verifies_the_servers_certificate(aws, monkeypatch):
    """RDS: ``sslmode=verify-full`` checks the certificate chain *and* the host name against the CA
    (libpq's "verify-full"; RDS User Guide, "Using SSL with a PostgreSQL DB instance"); libpq's own
    default, ``prefer``, falls back to plain text. A plain URL without an sslmode gets verify-full."""
    sm = settings.aws_clients().client("secretsmanager")
    arn = sm.create_secret(Name="julo-db-url", SecretString="postgresql://app:pw@db.internal:5432/julo")["ARN"]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    config.forget_database_secret()
    url = settings.database_url()
    assert url.startswith("postgresql://app:pw@db.internal:5432/julo?sslmode=verify-full&sslrootcert=")
    assert url.endswith("/rds-ca-ap-southeast-3.pem")
    # a URL that names its sslmode keeps it (the local day's secret says disable; the preflight refuses
    # a deployed secret weaker than verify-full)
    assert config.database_url_from_secret_value("postgresql://a@h/db?sslmode=disable").endswith("?sslmode=disable")
    config.forget_database_secret()


def test_no_database_configured(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        settings.database_url()


def test_bad_number_setting(monkeypatch):
    monkeypatch.setenv("CALLS_PER_SECOND", "fast")
    with pytest.raises(settings.SettingError, match="CALLS_PER_SECOND must be float, got 'fast'"):
        settings.StageSettings.from_environment()


def test_a_missing_required_setting_fails_naming_it():
    import pytest

    from chalicelib.settings import DispatchSettings, SettingError

    env = {"DATABASE_URL": "postgresql://a@h/db", "VOICE_FROM_NUMBER": "6281100000001",
           "WHATSAPP_PHONE_NUMBER_ID": "1234", "VONAGE_APPLICATION_ID": "app",
           "VONAGE_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
           "WHATSAPP_API_TOKEN": "t", "VONAGE_API_KEY": "k", "VONAGE_API_SECRET": "s",
           "CALLBACK_REFERENCE_KEY": "local-callback-reference-key-of-32-chars"}
    with pytest.raises(SettingError, match="REMINDER_CALLBACK_BASE_URL"):
        DispatchSettings.load(env)
    with pytest.raises(SettingError, match="REMINDER_CALLBACK_BASE_URL must be an absolute"):
        DispatchSettings.load({**env, "REMINDER_CALLBACK_BASE_URL": "/v1/callbacks"})
    with pytest.raises(SettingError, match="WHATSAPP_PHONE_NUMBER_ID is a documentation sample"):
        DispatchSettings.load({**env, "REMINDER_CALLBACK_BASE_URL": "https://api.example",
                               "WHATSAPP_PHONE_NUMBER_ID": "106540352242922"})
    with pytest.raises(SettingError, match="WHATSAPP_API_TOKEN"):
        DispatchSettings.load({**env, "REMINDER_CALLBACK_BASE_URL": "https://api.example", "WHATSAPP_API_TOKEN": ""})
    with pytest.raises(SettingError, match="CALLBACK_REFERENCE_KEY must be at least 32 characters"):
        DispatchSettings.load({**env, "REMINDER_CALLBACK_BASE_URL": "https://api.example",
                               "CALLBACK_REFERENCE_KEY": "short"})
    s = DispatchSettings.load({**env, "REMINDER_CALLBACK_BASE_URL": "https://api.example", "CALLS_PER_SECOND": "6",
                               "DISPATCH_MAX_CONCURRENCY": "3", "VOICE_MAX_CONCURRENT_CALLS": "40"})
    assert (s.calls_per_second, s.max_concurrency, s.voice_max_concurrent_calls) == (6.0, 3, 40)
