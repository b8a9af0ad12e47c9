"""TLS with a local certificate authority: MQTT over TLS (mqtts://) and HTTPS.

A Mosquitto listener that speaks only TLS, emon connecting with the CA from
EMON_MQTT_CA, devices publishing over TLS, the API on HTTPS; a client
without TLS is turned away.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.integration.serve import Broker, Device, Serve, approach, order_for


def local_ca(folder: Path) -> tuple[str, str, str]:
    """A CA and a certificate for 127.0.0.1 signed by it (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=emon test CA",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    return str(folder / "ca.crt"), str(folder / "server.crt"), str(folder / "server.key")


def test_mqtt_and_api_over_tls(tmp_path):
    ca, cert, key = local_ca(tmp_path)
    broker = Broker(tmp_path, f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
    broker.start()
    # one local CA signed both the broker's and the API's certificate
    env = {"EMON_MQTT_CA": ca, "EMON_HTTP_CERT": cert, "EMON_HTTP_KEY": key}
    serve = Serve(tmp_path, "--mqtt", f"mqtts://127.0.0.1:{broker.port}", env=env).start()
    try:
        assert str(serve.http.base_url).startswith("https://")
        assert serve.http.put("/api/v1/orders/OM-TLS", json=order_for("TLS")).status_code == 200
        victim = Device(broker.port, "emon/v1/notify/vd-TLS", tls_ca=ca)
        offender = Device(broker.port, tls_ca=ca)
        approach(offender, "TLS", [3000, 1400, 900, 600, 500])
        _, note = victim.expect(lambda t, b: b["level"] == "alert")
        assert note["alert_id"]
        victim.close()
        offender.close()
        plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="no-tls")
        plain.connect("127.0.0.1", broker.port, keepalive=5)
        plain.loop_start()
        time.sleep(1.5)
        assert not plain.is_connected()  # the TLS listener does not speak plain MQTT
        plain.loop_stop()
    finally:
        serve.stop()
        broker.stop()
