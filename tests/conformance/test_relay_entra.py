"""Entra ID tokens at azbridge-relayd: RSA keys and RS256 tokens made here
(python3-cryptography), the relay given them as a JWKS and a PEM file, and
real listeners and senders (Microsoft's hyco-ws with a bearer token, raw
websockets, curl) through it. Every refusal must name what was wrong in the
relay's log and never carry the token."""
import base64
import json
import os
import re
import threading
import time

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conftest import echo_server, free_port, round_trip, wait_for
from hcraw import Conn, sas
from test_relay import curl, node, node_token, relayd, root_creds, run_node, uri

ISS = "https://sts.windows.net/0000aaaa-1111-bbbb-2222-cccc3333dddd/"
OWNER = "11111111-0000-0000-0000-000000000001"       # oid: Azure Relay Owner, namespace
SENDER_APP = "22222222-0000-0000-0000-000000000002"  # appid/azp: Azure Relay Sender
DB_LISTENER = "33333333-0000-0000-0000-000000000003"  # oid: Listener on "db" only

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)

CONFIG = """
header_timeout = 5;
entra_id = {
  issuer_keys = ( "issuer.jwks", { file = "issuer.pem"; kid = "pem-1"; } );
  issuers = [ "%s" ];
  clock_skew = 2;
};
role_assignments = (
  { object_id = "%s"; role = "Azure Relay Owner"; },
  { app_id = "%s"; role = "Azure Relay Sender"; },
  { app_role = "Relay.Listen"; role = "Azure Relay Listener"; }
);
hybrid_connections = (
  { name = "hyco"; },
  { name = "db";
    role_assignments = ( { object_id = "%s"; role = "Azure Relay Listener"; } ); },
  { name = "web"; }
);
""" % (ISS, OWNER, SENDER_APP, DB_LISTENER)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwk(key, kid):
    n = key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "kid": kid,
            "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64u(n.e.to_bytes(3, "big"))}


def jwt(ttl=3600, key=KEY, kid="k1", alg="RS256", nbf=None, **claims):
    """An RS256 token as Entra ID issues one for https://relay.azure.net."""
    now = int(time.time())
    body = {"aud": "https://relay.azure.net", "iss": ISS, "iat": now - 5,
            "nbf": now - 5 if nbf is None else nbf, "exp": now + ttl, "tid": "t", **claims}
    head = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    signing = f"{b64u(json.dumps(head).encode())}.{b64u(json.dumps(body).encode())}"
    if alg == "none":
        sig = b""
    elif alg == "HS256":           # keyed with the public key's PEM: the alg confusion attack
        h = hmac.HMAC(pem_of(key), hashes.SHA256())
        h.update(signing.encode())
        sig = h.finalize()
    else:
        sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing}.{b64u(sig)}"


def pem_of(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def start(env):
    with open(os.path.join(env.tmp, "issuer.jwks"), "w") as f:
        json.dump({"keys": [jwk(KEY, "k1")]}, f)
    with open(os.path.join(env.tmp, "issuer.pem"), "wb") as f:
        f.write(pem_of(PEM_KEY))
    path = os.path.join(env.tmp, "relayd.conf")
    with open(path, "w") as f:
        f.write(CONFIG)
    os.chmod(path, 0o600)
    env.start_relay(extra=["--config", path])


def upgrade(env, name, action, token=None, how="ServiceBusAuthorization", extra=""):
    """A raw websocket upgrade: (conn, status, raw head)."""
    c = Conn(env)
    q = f"/$hc/{name}?sb-hc-action={action}"
    if how == "query":
        q += "&sb-hc-token=" + token
    elif how == "bearer":
        extra += f"Authorization: Bearer {token}\r\n"
    elif token:
        extra += f"ServiceBusAuthorization: {token}\r\n"
    status, _, raw = c.upgrade(q, extra=extra)
    return c, status, raw


def async_upgrade(env, name, action, token, how="ServiceBusAuthorization", extra=""):
    """upgrade() in a thread, for a sender that waits for its listener:
    out["status"] once the relay has answered."""
    out = {}

    def run():
        try:
            out["conn"], out["status"], out["raw"] = upgrade(env, name, action, token, how,
                                                             extra)
        except (EOFError, OSError) as e:
            out["status"] = repr(e)
    threading.Thread(target=run, daemon=True).start()
    return out


def jwt_listener(env, name, token, tag):
    p = node(env, "jwt_ws.js", "listen", uri(env, name, "listen"), token, tag, tag=tag)
    p.wait_log(rf"{tag} listening", timeout=20)
    return p


def jwt_send(env, name, token, nbytes=1 << 20):
    return run_node(env, "jwt_ws.js", "send", uri(env, name, "connect"), token, str(nbytes))


def test_hyco_ws_listener_and_sender_with_jwts_tunnel(env):
    start(env)
    lst = jwt_listener(env, "hyco", jwt(roles=["Relay.Listen"], oid="x"), "L")
    rc, out = jwt_send(env, "hyco", jwt(appid=SENDER_APP))
    assert rc == 0 and "ok" in out, out
    lst.wait_log(r"L conn 1")
    rc, out = jwt_send(env, "hyco", jwt(azp=SENDER_APP, ver="2.0"), 70000)   # v2.0: azp
    assert rc == 0 and "ok" in out, out
    assert not re.search(r"refused", env.relay.text())


@pytest.mark.parametrize("how", ["ServiceBusAuthorization", "query", "bearer"])
def test_jwt_is_taken_where_a_sas_token_is(env, how):
    start(env)
    c, status, raw = upgrade(env, "hyco", "listen", jwt(oid=OWNER), how)
    assert status == 101, raw
    # A sender through the same header gets past the token check to the listener.
    async_upgrade(env, "hyco", "connect", jwt(appid=SENDER_APP), how, extra="X-Probe: 1\r\n")
    accept = c.json()["accept"]
    assert accept["id"]
    names = [k.lower() for k in accept["connectHeaders"]]
    assert "x-probe" in names, accept                    # the sender's own headers go on
    assert "authorization" not in names and "servicebusauthorization" not in names, accept


def test_sas_and_jwt_side_by_side(env):
    start(env)
    kn, key = root_creds(env)
    node(env, "ws_listener.js", uri(env, "hyco", "listen"), kn, key, "S",
         tag="sas-listener").wait_log(r"S listening", timeout=20)
    rc, out = jwt_send(env, "hyco", jwt(appid=SENDER_APP))
    assert rc == 0 and "ok" in out, out
    jwt_listener(env, "web", jwt(oid=OWNER), "J")
    rc, out = run_node(env, "ws_sender.js", uri(env, "web", "connect"), kn, key, "100000", "2")
    assert rc == 0 and "ok 2" in out, out


def refused(env, status_want, pattern, token):
    """A listener on hyco with token is answered status_want and the log says why."""
    c, status, raw = upgrade(env, "hyco", "listen", token)
    assert status == status_want, raw
    find = lambda: re.search(r"websocket from \S+ refused \((\d+)\): (.*)", env.relay.text())
    wait_for(find, what="the refusal in the log")
    line = find()
    assert int(line.group(1)) == status_want
    assert re.search(pattern, line.group(2)), line.group(0)
    text = env.relay.text()
    for part in token.split("."):
        if len(part) > 8:
            assert part not in text          # no piece of the token reaches the log
    return line.group(2)


@pytest.mark.parametrize("case, status, pattern, make", [
    ("expired", 401, r"the token has expired \(\d+ s ago\)", lambda: jwt(ttl=-60, oid=OWNER)),
    ("not yet valid", 401, r"the token is not valid yet \(nbf in \d+ s\)",
     lambda: jwt(nbf=int(time.time()) + 600, oid=OWNER)),
    ("wrong audience", 401, r"the token's audience \"https://vault.azure.net\" is not accepted",
     lambda: jwt(oid=OWNER, aud="https://vault.azure.net")),
    ("wrong issuer", 401, r"the token's issuer \"https://sts.windows.net/evil/\" is not accepted",
     lambda: jwt(oid=OWNER, iss="https://sts.windows.net/evil/")),
    ("bad signature", 401, r"the token's signature is not valid",
     lambda: jwt(key=OTHER, oid=OWNER)),
    ("alg none", 401, r"the token's algorithm \"none\" is not RS256",
     lambda: jwt(alg="none", oid=OWNER)),
    ("HS256", 401, r"the token's algorithm \"HS256\" is not RS256",
     lambda: jwt(alg="HS256", key=PEM_KEY, kid="pem-1", oid=OWNER)),
    ("unknown kid", 401, r"the token's key id \"k2\" is not a known issuer key",
     lambda: jwt(kid="k2", oid=OWNER)),
    ("PEM key under another kid", 401, r"the token's signature is not valid",
     lambda: jwt(key=PEM_KEY, kid="k1", oid=OWNER)),
    ("sender listening", 403, r"no role assignment grants Listen to app " + SENDER_APP +
     " on hyco", lambda: jwt(appid=SENDER_APP)),
    ("no principal", 403, r"no role assignment grants Listen to a token with no oid",
     lambda: jwt()),
])
def test_bad_tokens_are_refused_with_a_reason(env, case, status, pattern, make):
    start(env)
    refused(env, status, pattern, make())
    # The relay keeps serving: a good token still listens.
    c, st, raw = upgrade(env, "hyco", "listen", jwt(key=PEM_KEY, kid="pem-1", oid=OWNER))
    assert st == 101, raw


def test_entity_scoped_assignment_holds_for_its_hybrid_connection_only(env):
    start(env)
    tok = jwt(oid=DB_LISTENER)
    c, status, raw = upgrade(env, "db", "listen", tok)
    assert status == 101, raw
    c2, status, raw = upgrade(env, "hyco", "listen", tok)
    assert status == 403, raw
    assert re.search(r"refused \(403\): no role assignment grants Listen to oid " + DB_LISTENER +
                     " on hyco", env.relay.text())
    _, status, raw = upgrade(env, "db", "connect", tok)      # Listener does not send
    assert status == 403, raw


def test_renew_token_with_a_jwt_keeps_the_channel(env):
    start(env)
    kept, status, _ = upgrade(env, "hyco", "listen", jwt(ttl=3, oid=OWNER))
    assert status == 101
    lapsed, status, _ = upgrade(env, "web", "listen", jwt(ttl=3, oid=OWNER))
    assert status == 101
    t0 = time.time()
    kept.send_json({"renewToken": {"token": jwt(ttl=3600, roles=["Relay.Listen"])}})
    # Unrenewed, the channel closes with 1008 after exp + clock_skew + the grace.
    lapsed.s.settimeout(30)
    op, payload = lapsed.ws_message()
    assert op == 8 and payload[:2] == b"\x03\xf0", payload
    assert time.time() - t0 >= 3
    # The renewed one still takes a sender.
    async_upgrade(env, "hyco", "connect", jwt(appid=SENDER_APP))
    assert "accept" in kept.json()


def test_refused_renewal_closes_the_channel_with_its_reason(env):
    start(env)
    lst, status, _ = upgrade(env, "hyco", "listen", jwt(oid=OWNER))
    assert status == 101
    bad = jwt(appid=SENDER_APP)
    lst.send_json({"renewToken": {"token": bad}})
    lst.s.settimeout(20)
    op, payload = lst.ws_message()
    assert op == 8 and payload[:2] == b"\x03\xf0", payload
    assert b"no role assignment grants Listen" in payload
    assert re.search(r"listener for hyco: renewToken refused: no role assignment grants Listen "
                     r"to app " + SENDER_APP, env.relay.text())
    assert bad.split(".")[2] not in env.relay.text()


def test_http_client_with_a_bearer_token(env):
    start(env)
    kn, key = root_creds(env)
    srv = node(env, "https_server.js", uri(env, "web", "listen"), kn, key, tag="hyco-https")
    srv.wait_log(r"^listening", timeout=20)
    url = f"https://localhost:{env.relay_port}/web/items"
    r = curl(env, "-H", f"Authorization: Bearer {jwt(appid=SENDER_APP)}", url)
    seen = json.loads(r.stdout)
    assert seen["url"] == "/web/items"
    assert "authorization" not in seen["headers"]          # the relay's token stays there
    r = curl(env, "-o", "/dev/null", "-w", "%{http_code}", "-H",
             f"Authorization: Bearer {jwt(oid=DB_LISTENER)}", url)
    assert r.stdout == b"403"
    assert re.search(r"request from \S+ refused \(403\): no role assignment grants Send to oid " +
                     DB_LISTENER + " on web", env.relay.text())
    # A SAS in the same header still works.
    tok = node_token(env, "https://localhost/web", kn, key)
    r = curl(env, "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: {tok}", url)
    assert r.stdout == b"200"


def test_jwt_without_entra_configuration_is_refused(env):
    env.start_relay()
    c, status, raw = upgrade(env, "x", "listen", jwt(oid=OWNER))
    assert status == 401, raw
    assert "Entra ID tokens are not accepted here" in env.relay.text()
    kn, key = root_creds(env)
    c, status, raw = upgrade(env, "x", "listen", sas("http://localhost/x", kn, key))
    assert status == 101, raw


def test_bad_entra_configuration_is_reported_with_lines(tmp_path):
    with open(tmp_path / "small.pem", "wb") as f:
        f.write(pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    (tmp_path / "empty.jwks").write_text('{"keys": [{"kty": "EC", "kid": "e"}]}')
    conf = tmp_path / "bad.conf"
    conf.write_text('listen = [ "127.0.0.1:0" ];\nplain = true;\n'
                    'entra_id = {\n  issuer_keys = ( "small.pem", "empty.jwks", "nope.jwks" );\n'
                    '  clock_skew = 9999;\n};\n'
                    'role_assignments = (\n  { object_id = "a"; app_id = "b"; role = "Owner"; },\n'
                    '  { app_role = "r"; role = "Azure Relay Boss"; }\n);\n'
                    'hybrid_connections = ( { name = "h"; role_assignments = 5; } );\n')
    r = relayd("--check", "--config", str(conf))
    assert r.returncode == 2
    for want in (r"bad\.conf:4: issuer_keys: \S+small\.pem: the key has 1024 bits",
                 r"bad\.conf:4: issuer_keys: \S+empty\.jwks: no RSA signing key",
                 r"bad\.conf:4: issuer_keys: \S+nope\.jwks: No such file",
                 r"bad\.conf:3: entra_id needs issuers",
                 r"bad\.conf:5: clock_skew must be from 0 to 600",
                 r"bad\.conf:8: a role assignment needs exactly one of object_id, app_id and app_role",
                 r"bad\.conf:9: role must be \"Azure Relay Owner\"",
                 r"bad\.conf:11: role_assignments must be a list"):
        assert re.search(want, r.stderr), (want, r.stderr)
    conf.write_text('listen = [ "127.0.0.1:0" ];\nplain = true;\n'
                    'role_assignments = ( { object_id = "a"; role = "Owner"; } );\n')
    r = relayd("--check", "--config", str(conf))
    assert r.returncode == 2
    assert re.search(r"bad\.conf:3: role_assignments need entra_id", r.stderr), r.stderr


def test_bridges_holding_fixed_jwts_tunnel_through(env):
    """azbridged sends a token given as SharedAccessSignature verbatim: a JWT
    there reaches the relay as the .NET SDK sends one."""
    start(env)
    target, local = free_port(), free_port()
    srv = echo_server(target)
    base = f"Endpoint=sb://localhost:{env.relay_port}/;SharedAccessSignature="
    env.listener("t", "-T", f"db:{target}", cs=base + jwt(oid=DB_LISTENER))
    env.sender("l", local, "-L", f"127.0.0.1:{local}:db", cs=base + jwt(appid=SENDER_APP))
    data = os.urandom(1 << 20)
    assert round_trip(local, data) == data
    assert "refused" not in env.relay.text()
    srv.close()
