import json

import pytest

from chalicelib import aws as aws_clients
from chalicelib import config


def test_database_url_from_env_wins(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@h/db")
    monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:ap-southeast-3:0:secret:x")
    assert config.database_url() == "postgresql://a@h/db"


def test_database_url_from_rds_secret(aws, monkeypatch):
    secret = {"username": "app", "password": "p@ss/word", "host": "db.internal", "port": 5432, "dbname": "julo"}
    arn = aws_clients.client("secretsmanager").create_secret(Name="julo-db", SecretString=json.dumps(secret))["ARN"]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    config._database_url_from_secret.cache_clear()
    # the password is URL-quoted, TLS is required
    assert config.database_url() == "postgresql://app:p%40ss%2Fword@db.internal:5432/julo?sslmode=require"


def test_no_database_configured(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        config.database_url()


def test_bad_integer_setting(monkeypatch):
    monkeypatch.setenv("CALLS_PER_SECOND", "fast")
    with pytest.raises(RuntimeError, match="CALLS_PER_SECOND"):
        config.env_int("CALLS_PER_SECOND", 1)
