"""Local alert targets for the tests: an SMTP server (aiosmtpd) that requires STARTTLS and a login, with a
certificate made here, and an HTTP server standing in for a webhook or a group robot. Both listen on
127.0.0.1 only and keep every message they receive, as received."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER = "regreen-alerts"
SMTP_PASSWORD = "s3cret-not-in-the-toml"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), valid for a day: the SMTP server's, and the CA the
    client is told to trust (`smtp_ca_file`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MailBox:
    """What the SMTP server received: each message, whether it came over TLS, and the logins tried. It
    takes `login`; with `sender_is_login`, as Tencent Exmail, QQ, 163 and Aliyun mail do, only mail from
    the address that logged in."""

    login: str = SMTP_USER
    sender_is_login: bool = False
    messages: list[EmailMessage] = field(default_factory=list)
    over_tls: list[bool] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's name)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.sender_is_login and (
            session.auth_data is None or address != session.auth_data.login.decode()
        ):
            return "501 mail from address must be same as authorization user"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        # session.ssl is set by STARTTLS only; a connection over TLS from the start has its TLS transport.
        self.over_tls.append(
            session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        )
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> AuthResult:
        if not isinstance(auth, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth.login.decode(), auth.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == (self.login, SMTP_PASSWORD), auth_data=auth)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 that refuses mail before STARTTLS and before a login; with `implicit_tls`, one
    that speaks TLS from the first byte (SMTPS, as on port 465) and refuses mail before a login."""

    def __init__(self, folder: Path, implicit_tls: bool = False, box: MailBox | None = None) -> None:
        self.cert, key = self_signed_certificate(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.box = box or MailBox()
        self.port = free_port()
        tls = (
            {"ssl_context": context, "auth_require_tls": False} if implicit_tls else {"tls_context": context}
        )
        self.controller = Controller(
            self.box,
            hostname="127.0.0.1",
            port=self.port,
            require_starttls=not implicit_tls,
            auth_required=True,
            authenticator=self.box.authenticate,
            **tls,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()


@dataclass
class Posted:
    path: str
    content_type: str
    body: dict[str, Any]


def dingtalk_signature_holds(path: str, secret: str, now_ms: int) -> bool:
    """What a DingTalk robot with 加签 checks, as its documentation gives it: the query's `timestamp`
    (milliseconds) is within an hour of its clock and `sign` is base64(HMAC-SHA256(secret,
    timestamp + "\\n" + secret))."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if len(query.get("timestamp", [])) != 1 or len(query.get("sign", [])) != 1:
        return False
    timestamp = query["timestamp"][0]
    expected = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    fresh = abs(now_ms - int(timestamp)) < 3_600_000
    return fresh and hmac.compare_digest(base64.b64decode(query["sign"][0]), expected)


class WebhookServer:
    """An HTTP server on 127.0.0.1 that keeps every JSON body posted to it and answers as the robots do:
    {"errcode": 0}, or {"errcode": 93000} on the path /refuse; with `dingtalk_secret`, as a DingTalk robot
    with 加签 does: {"errcode": 310000} unless the URL is signed with it. With `certificate` (and its key),
    it speaks HTTPS. As a forward proxy, it is sent the whole URL on the request line, as its `path`."""

    def __init__(
        self, dingtalk_secret: str | None = None, certificate: tuple[Path, Path] | None = None
    ) -> None:
        self.posted: list[Posted] = []
        posted = self.posted

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                posted.append(
                    Posted(
                        self.path, self.headers.get("Content-Type", ""), json.loads(self.rfile.read(length))
                    )
                )
                errcode = 93000 if self.path.startswith("/refuse") else 0
                if dingtalk_secret is not None and not dingtalk_signature_holds(
                    self.path, dingtalk_secret, round(time.time() * 1000)
                ):
                    errcode = 310000
                answer = json.dumps({"errcode": errcode}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if certificate is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def notify_toml(smtp: SmtpServer, webhook_url: str, webhook_format: str, password_env: str) -> str:
    """The [notify] section that sends to these servers."""
    return f"""[notify]
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
smtp_user = "{SMTP_USER}"
smtp_password_env = "{password_env}"
smtp_ca_file = "{smtp.cert}"
mail_from = "regreen@example.org"
mail_to = ["office@example.org"]
webhook_url = "{webhook_url}"
webhook_format = "{webhook_format}"
timeout_seconds = 10
"""
