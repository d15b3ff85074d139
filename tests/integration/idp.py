"""A token service of the tests' own on loopback: real HTTP, an RSA key
made here, RS256 access tokens for https://relay.azure.net. It answers the
forms azbridged's credentials use:

  POST /{tenant}/oauth2/v2.0/token     client secret, certificate client
                                       assertion, federated token
  GET  /msi?api-version=2019-08-01     IDENTITY_ENDPOINT + IDENTITY_HEADER
  GET  /metadata/identity/oauth2/token IMDS, reached through
                                       AZURE_POD_IDENTITY_AUTHORITY_HOST
  GET  /az                             for the stand-in `az` script

and the relay trusts its key (a JWKS file) and issuer. fail() makes the
next answers errors; calls counts what was asked."""
import base64
import datetime
import hashlib
import json
import os
import stat
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TENANT = "0000aaaa-1111-bbbb-2222-cccc3333dddd"
ISS = f"https://sts.windows.net/{TENANT}/"
CLIENT = "44444444-0000-0000-0000-000000000004"     # the app: appid of its tokens
OID = "55555555-0000-0000-0000-000000000005"        # its service principal
SECRET = "Zx8Q~s3cr3t-client-VALUE_for.tests"        # never in a log
MI_HEADER = "identity-header-s3cr3t-9f8e7d"
FEDERATED = "federated.kube.token.s3cr3t"
CERT_PASSWORD = "pem-pass-s3cr3t"
SCOPE = "https://relay.azure.net/.default"
RESOURCE = "https://relay.azure.net"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwk(key, kid):
    n = key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "kid": kid,
            "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64u(n.e.to_bytes(3, "big"))}


def relay_config(jwks="issuer.jwks", oid=OID, role="Azure Relay Owner"):
    """azbridge-relayd's configuration trusting this service."""
    return f"""
entra_id = {{ issuer_keys = ( "{jwks}" ); issuers = [ "{ISS}" ]; clock_skew = 1; }};
role_assignments = ( {{ object_id = "{oid}"; role = "{role}"; }} );
"""


class IdP:
    def __init__(self, tmp, lifetime=3600):
        self.tmp = tmp
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.lifetime = lifetime
        self.aud = RESOURCE
        self.sign_key = self.key
        self.failures = []            # (status, body) answered before any token
        self.calls = []               # (kind, ok)
        self.issued = []              # every token handed out
        self.received = 0             # requests come in (answered or not)
        self.gate = None              # a threading.Event: answer only once set
        self.federated = [FEDERATED]  # federated tokens taken...
        self.federated_seen = []      # ...and those presented, in order
        self.lock = threading.Lock()
        self.cert_pem, self.x5t = self._client_cert()
        idp = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                idp._handle(self, "GET")

            def do_POST(self):
                idp._handle(self, "POST")

        self.handler = H
        self.server = None
        self.port = 0
        self.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        """Serve (again, on the same port after stop())."""
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        """Down: connections to the port are refused."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    close = stop

    # ---- files for the relay and the daemon -----------------------------

    def write_jwks(self, name="issuer.jwks"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump({"keys": [jwk(self.key, "k1")]}, f)
        return path

    def _client_cert(self):
        """The app's certificate credential: a key and self-signed cert in
        one PEM (mode 600, as a secret file must be)."""
        self.client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azbridge-test-app")])
        now = time.time()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.client_key.public_key()).serial_number(1)
                .not_valid_before(datetime.datetime.utcfromtimestamp(now - 60))
                .not_valid_after(datetime.datetime.utcfromtimestamp(now + 86400))
                .sign(self.client_key, hashes.SHA256()))
        der = cert.public_bytes(serialization.Encoding.DER)
        pem = (self.client_key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
               + cert.public_bytes(serialization.Encoding.PEM))
        return pem, b64u(hashlib.sha1(der).digest())

    def write_cert(self, name="client.pem", password=None):
        path = os.path.join(self.tmp, name)
        pem = self.cert_pem
        if password:
            enc = serialization.BestAvailableEncryption(password.encode())
            pem = (self.client_key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8, enc)
                   + pem[pem.index(b"-----BEGIN CERTIFICATE"):])
        with open(path, "wb") as f:
            f.write(pem)
        os.chmod(path, 0o600)
        return path

    def write_az(self):
        """A stand-in `az` (first on PATH): checks its arguments, then asks
        this service for a token as the real CLI would ask Entra ID."""
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir, exist_ok=True)
        path = os.path.join(bindir, "az")
        with open(path, "w") as f:
            f.write(f"""#!/usr/bin/python3
import json, os, sys, urllib.request
with open(os.path.join(os.path.dirname(sys.argv[0]), "az.env"), "a") as f:
    f.write("".join(k + "\\n" for k in sorted(os.environ)))
want = ["account", "get-access-token", "--resource", "{RESOURCE}", "--output", "json"]
if sys.argv[1:] != want:
    print("ERROR: unexpected arguments: %s" % sys.argv[1:], file=sys.stderr)
    sys.exit(2)
try:
    body = urllib.request.urlopen("{self.url}/az", timeout=10).read()
except Exception as e:
    print("ERROR: Please run 'az login' to setup account. (%s)" % e, file=sys.stderr)
    sys.exit(1)
sys.stdout.write(body.decode())
""")
        os.chmod(path, stat.S_IRWXU)
        return bindir

    # ---- tokens ---------------------------------------------------------

    def token(self, ttl=None, aud=None, key=None, **claims):
        now = int(time.time())
        body = {"aud": aud or self.aud, "iss": ISS, "iat": now, "nbf": now - 1,
                "exp": now + (ttl or self.lifetime), "tid": TENANT, "oid": OID,
                "appid": CLIENT, **claims}
        head = {"alg": "RS256", "typ": "JWT", "kid": "k1"}
        signing = f"{b64u(json.dumps(head).encode())}.{b64u(json.dumps(body).encode())}"
        sig = (key or self.sign_key).sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{b64u(sig)}"

    def fail(self, status, body, times=1):
        with self.lock:
            self.failures += [(status, body)] * times

    def count(self, kind, ok=True):
        with self.lock:
            return sum(1 for k, o in self.calls if k == kind and o == ok)

    # ---- the endpoints --------------------------------------------------

    def _answer(self, h, status, body):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h, method):
        with self.lock:
            self.received += 1
        if self.gate:
            self.gate.wait(30)       # held until the test lets it answer
        u = urllib.parse.urlsplit(h.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        form = {}
        if method == "POST":
            n = int(h.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(h.rfile.read(n).decode()))
        kind, err = self._check(h, method, u.path, q, form)
        with self.lock:
            injected = self.failures.pop(0) if self.failures and not err else None
            self.calls.append((kind, not err and not injected))
        if err:
            return self._answer(h, 400 if err[0] != "invalid_client" else 401,
                                {"error": err[0], "error_description": err[1]})
        if injected:
            return self._answer(h, injected[0], injected[1])
        tok = self.token()
        with self.lock:
            self.issued.append(tok)
        exp = int(time.time()) + self.lifetime
        if kind in ("msi", "imds"):
            return self._answer(h, 200, {"access_token": tok, "expires_on": str(exp),
                                         "expires_in": str(self.lifetime),
                                         "resource": RESOURCE, "token_type": "Bearer"})
        if kind == "az":
            return self._answer(h, 200, {"accessToken": tok, "expires_on": exp,
                                         "tenant": TENANT, "tokenType": "Bearer"})
        return self._answer(h, 200, {"token_type": "Bearer", "expires_in": self.lifetime,
                                     "access_token": tok})

    def _check(self, h, method, path, q, form):
        """(kind, None) for a well-formed request, or (kind, (code, text))."""
        if method == "GET" and path == "/msi":
            ok = (h.headers.get("X-IDENTITY-HEADER") == MI_HEADER
                  and q.get("api-version") == "2019-08-01" and q.get("resource") == RESOURCE)
            return "msi", None if ok else ("invalid_request", "bad managed identity request")
        if method == "GET" and path == "/metadata/identity/oauth2/token":
            ok = (h.headers.get("Metadata") == "true" and q.get("api-version") == "2018-02-01"
                  and q.get("resource") == RESOURCE)
            return "imds", None if ok else ("invalid_request", "bad IMDS request")
        if method == "GET" and path == "/az":
            return "az", None
        if method == "POST" and path == f"/{TENANT}/oauth2/v2.0/token":
            return self._check_client(form)
        return "unknown", ("invalid_request", f"no such endpoint {method} {path}")

    def _check_client(self, form):
        if (form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE
                or form.get("client_id") != CLIENT):
            return "token", ("invalid_request", "bad grant, scope or client_id")
        if "client_secret" in form:
            ok = form["client_secret"] == SECRET
            return "secret", None if ok else ("invalid_client", "AADSTS7000215: bad secret")
        if form.get("client_assertion_type") != \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return "token", ("invalid_request", "no client authentication")
        a = form.get("client_assertion", "")
        if a in self.federated:
            self.federated_seen.append(a)
            return "federated", None
        return "certificate", self._check_assertion(a)

    def _check_assertion(self, a):
        try:
            head_b, body_b, sig_b = a.split(".")
            head, body = json.loads(unb64u(head_b)), json.loads(unb64u(body_b))
            self.client_key.public_key().verify(unb64u(sig_b), f"{head_b}.{body_b}".encode(),
                                                padding.PKCS1v15(), hashes.SHA256())
        except Exception as e:   # noqa: BLE001 - any flaw is the same refusal
            return ("invalid_client", f"AADSTS700027: assertion not valid ({type(e).__name__})")
        now = time.time()
        aud = f"{self.url}/{TENANT}/oauth2/v2.0/token"
        if (head.get("alg") != "RS256" or head.get("x5t") != self.x5t or body.get("aud") != aud
                or body.get("iss") != CLIENT or body.get("sub") != CLIENT
                or not body.get("jti") or not body.get("nbf", now + 1) <= now + 5
                or not now < body.get("exp", 0) <= now + 900):
            return ("invalid_client", "AADSTS700027: assertion claims not valid")
        return None
