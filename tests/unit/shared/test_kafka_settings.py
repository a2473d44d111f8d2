import shutil
import ssl
import subprocess

import pytest
from pydantic import ValidationError

from services.shared.kafka import client_options
from services.shared.settings import KafkaSettings


def test_defaults_are_plaintext_on_loopback():
    opts = client_options(KafkaSettings())
    assert opts == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"kafka_security_protocol": "SASL-SSL"}, "security_protocol"),
        ({"kafka_security_protocol": "SASL_SSL"}, "needs KAFKA_SASL_MECHANISM"),
        ({"kafka_sasl_mechanism": "SCRAM-SHA-512"}, "needs KAFKA_SASL_USERNAME"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
        ({"kafka_ssl_keyfile": "/k.pem"}, "needs KAFKA_SSL_CERTFILE"),
    ],
)
def test_a_kafka_setting_that_cannot_work_stops_the_service_naming_it(fields, says):
    with pytest.raises(ValidationError, match=says):
        KafkaSettings(**fields)


def test_sasl_over_tls_with_scram():
    opts = client_options(
        KafkaSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="triage",
            kafka_sasl_password="s3cret-s3cret",
        )
    )
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512" and isinstance(opts["ssl_context"], ssl.SSLContext)
    assert "s3cret" not in repr(KafkaSettings(kafka_sasl_password="s3cret-s3cret"))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a client certificate")
def test_mutual_tls_loads_the_client_certificate(tmp_path):
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=triage", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    opts = client_options(
        KafkaSettings(kafka_security_protocol="SSL", kafka_ssl_certfile=str(cert), kafka_ssl_keyfile=str(key))
    )
    assert isinstance(opts["ssl_context"], ssl.SSLContext)
    with pytest.raises(FileNotFoundError):
        client_options(KafkaSettings(kafka_security_protocol="SSL", kafka_ssl_certfile=str(tmp_path / "missing")))
