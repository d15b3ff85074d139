"""azbridged with Entra ID credentials against azbridge-relayd trusting the
tests' own token service (idp.py) on loopback: a tunnel through for each
credential kind, short-lived tokens refreshed while the control channel
stays up, and every failure of the identity endpoint (down, bad JSON, 400,
401, 500) or of its tokens (wrong audience, wrong signature, a role that
does not grant the action) a clear error and a retry. No secret or token
may reach a log or /proc/PID/cmdline. Nothing here is sent off loopback:
the IMDS address is always overridden."""
import os
import re
import socket
import subprocess
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import idp as idpmod
from conftest import BUILD, Proc, echo_server, free_port, round_trip, wait_for

SECRETS = (idpmod.SECRET, idpmod.MI_HEADER, idpmod.FEDERATED, idpmod.CERT_PASSWORD)


@pytest.fixture
def idp(env):
    s = idpmod.IdP(env.tmp)
    yield s
    s.close()


def start_relay(env, idp, **kw):
    idp.write_jwks()
    path = os.path.join(env.tmp, "relayd.conf")
    with open(path, "w") as f:
        f.write(idpmod.relay_config(**kw))
    os.chmod(path, 0o600)
    env.start_relay(extra=["--config", path])


def base_env(idp):
    """The daemon's environment without any Azure settings of the machine,
    IMDS moved to a loopback port nothing answers on."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "CREDENTIALS_DIRECTORY"))}
    e["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = f"http://127.0.0.1:{free_port()}"
    e["PATH"] = "/usr/bin:/bin"
    return e


def cred_env(idp, kind):
    e = base_env(idp)
    ids = {"AZURE_TENANT_ID": idpmod.TENANT, "AZURE_CLIENT_ID": idpmod.CLIENT,
           "AZURE_AUTHORITY_HOST": idp.url}
    if kind == "secret":
        e.update(ids, AZURE_CLIENT_SECRET=idpmod.SECRET)
    elif kind == "secret-file":
        # A systemd credential: a relative name in $CREDENTIALS_DIRECTORY.
        creds = os.path.join(idp.tmp, "credentials")
        os.makedirs(creds, exist_ok=True)
        with open(os.path.join(creds, "client-secret"), "w") as f:
            f.write(idpmod.SECRET + "\n")
        os.chmod(os.path.join(creds, "client-secret"), 0o600)
        e.update(ids, CREDENTIALS_DIRECTORY=creds, AZURE_CLIENT_SECRET_FILE="client-secret")
    elif kind == "certificate":
        e.update(ids, AZURE_CLIENT_CERTIFICATE_PATH=idp.write_cert())
    elif kind == "certificate-password":
        e.update(ids, AZURE_CLIENT_CERTIFICATE_PATH=idp.write_cert(
            "locked.pem", idpmod.CERT_PASSWORD),
            AZURE_CLIENT_CERTIFICATE_PASSWORD=idpmod.CERT_PASSWORD)
    elif kind == "workload":
        path = os.path.join(idp.tmp, "federated-token")
        with open(path, "w") as f:
            f.write(idpmod.FEDERATED)
        e.update(ids, AZURE_FEDERATED_TOKEN_FILE=path)
    elif kind == "msi":
        e.update(IDENTITY_ENDPOINT=f"{idp.url}/msi", IDENTITY_HEADER=idpmod.MI_HEADER)
    elif kind == "imds":
        e["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = idp.url
    elif kind == "az":
        e["PATH"] = idp.write_az() + ":" + e["PATH"]
    return e


def endpoint(env):
    return f"sb://127.0.0.1:{env.relay_port}/"


def bridge(env, name, e, *args, credential=None):
    """azbridged with only -e: no key name and no signature is Entra ID."""
    argv = [os.path.join(BUILD, "azbridged"), "--foreground", "-v", "-o", f"ca_file:{env.ca}",
            "-o", "stop_timeout:1", "-e", endpoint(env), *args]
    if credential:
        argv[1:1] = ["-o", f"credential:{credential}"]
    p = Proc(name, argv, env.tmp, e)
    env.procs.append(p)
    return p


def listener(env, e, credential=None):
    """A remote forward of relay "db" to an echo server, not yet online."""
    target = free_port()
    echo_server(target)
    return bridge(env, "listener", e, "-T", f"db:127.0.0.1:{target}", credential=credential)


def pair(env, e, credential=None):
    """A listener and a sender through the relay; the sender's port."""
    port = free_port()
    lst = listener(env, e, credential)
    lst.wait_log(r"listener online", timeout=30)
    snd = bridge(env, "sender", e, "-L", f"127.0.0.1:{port}:db", credential=credential)
    snd.wait_log(rf"listening on 127\.0\.0\.1:{port}\b")
    return lst, snd, port


def echo(port, data=b"through the relay with an Entra ID token"):
    assert round_trip(port, data, timeout=20) == data


def assert_no_secrets(idp, *procs):
    for p in procs:
        with open(f"/proc/{p.p.pid}/cmdline", "rb") as f:
            cmd = f.read().decode(errors="replace")
        for text, where in ((p.text(), "log"), (cmd, "cmdline")):
            for s in SECRETS + tuple(idp.issued):
                assert s not in text, f"a secret or token in {p.name}'s {where}"


CASES = [("secret", "environment", "secret"), ("secret-file", "environment", "secret"),
         ("certificate", "environment", "certificate"),
         ("certificate-password", "environment", "certificate"),
         ("workload", "workload-identity", "federated"), ("msi", "managed-identity", "msi"),
         ("imds", "managed-identity", "imds"), ("az", "azure-cli", "az")]


@pytest.mark.parametrize("kind,credential,call", CASES, ids=[c[0] for c in CASES])
def test_tunnel_through_each_credential(env, idp, kind, credential, call):
    start_relay(env, idp)
    lst, snd, port = pair(env, cred_env(idp, kind), credential)
    echo(port)
    # The sender fetched its own token once and reuses it.
    echo(port)
    assert idp.count(call) == 2, idp.calls
    assert_no_secrets(idp, lst, snd)


def test_default_takes_the_first_credential_that_works_and_says_which(env, idp):
    start_relay(env, idp)
    e = cred_env(idp, "az")     # no environment, no workload identity, IMDS refused
    lst, snd, port = pair(env, e)
    echo(port)
    lst.wait_log(r'Entra ID credential "default": using the azure-cli credential')
    assert idp.count("az") == 2


def test_a_token_fetch_never_holds_up_the_loop_and_sas_works_beside_it(env, idp):
    """One daemon, two forwards: a SAS listener comes online and its tunnel
    carries data while the identity endpoint holds the Entra ID forward's
    request unanswered."""
    start_relay(env, idp)
    idp.gate = threading.Event()
    sas_target, entra_target = free_port(), free_port()
    echo_server(sas_target)
    echo_server(entra_target)
    conf = os.path.join(env.tmp, "azbridge.conf")
    # Numeric addresses: name lookups share the worker with token fetches
    # (azbridged(8)), and this is about the loop.
    with open(conf, "w") as f:
        f.write(f"""endpoint = "{endpoint(env)}";
credential = "managed-identity";
control_socket = "none";
remote_forward = (
  {{ name = "entra"; relay = "db"; host = "127.0.0.1"; host_port = {entra_target}; }},
  {{ name = "sas"; relay = "web"; host = "127.0.0.1"; host_port = {sas_target};
     connection_string = "{env.conn_str}"; endpoint = "{endpoint(env)}"; }}
);
""")
    os.chmod(conf, 0o600)
    p = Proc("both", [os.path.join(BUILD, "azbridged"), "--foreground", "-v", "-c", conf,
                      "-o", f"ca_file:{env.ca}", "-o", "stop_timeout:1"], env.tmp,
             cred_env(idp, "msi"))
    env.procs.append(p)
    wait_for(lambda: idp.received >= 1, timeout=20, what="the token request")
    p.wait_log(r"sas: listener online", timeout=20)
    port = free_port()
    snd = bridge(env, "sender", base_env(idp), "-x", env.conn_str, "-L", f"127.0.0.1:{port}:web")
    snd.wait_log(rf"listening on 127\.0\.0\.1:{port}\b")
    echo(port)
    assert "entra: listener online" not in p.text() and not idp.issued
    idp.gate.set()
    p.wait_log(r"entra: listener online", timeout=30)


def test_a_sender_client_waits_for_the_first_token_then_tunnels(env, idp):
    start_relay(env, idp)
    e = cred_env(idp, "msi")
    listener(env, e).wait_log(r"listener online", timeout=30)
    port = free_port()
    snd = bridge(env, "sender", e, "-L", f"127.0.0.1:{port}:db")
    snd.wait_log(rf"listening on 127\.0\.0\.1:{port}\b")
    idp.gate = threading.Event()       # the sender's first token request waits
    before, out = idp.received, []
    t = env.thread(lambda: out.append(_echo_ok(port)))
    wait_for(lambda: idp.received > before, timeout=20, what="the sender's token request")
    assert t.is_alive() and not out
    idp.gate.set()
    t.join(40)
    assert out == [True]
    assert idp.count("msi") == 2


def test_short_lived_tokens_are_renewed_on_the_open_channel(env, idp):
    idp.lifetime = 15          # refreshed after 12 s; the relay allows 1 s of skew
    start_relay(env, idp)
    lst, snd, port = pair(env, cred_env(idp, "msi"))
    wait_for(lambda: idp.count("msi") >= 4, timeout=60, what="three refreshes")
    lst.wait_log(r"renewing the listener token", count=2, timeout=20)
    echo(port)                 # the sender's own token was refreshed too
    assert lst.text().count("listener online") == 1, "the control channel went down"
    assert "listener offline" not in lst.text()


def test_workload_identity_reads_the_rotated_token_file_on_every_fetch(env, idp):
    idp.lifetime = 15
    rotated = idpmod.FEDERATED + ".rotated"
    idp.federated.append(rotated)
    start_relay(env, idp)
    e = cred_env(idp, "workload")
    lst = listener(env, e, "workload-identity")
    lst.wait_log(r"listener online", timeout=30)
    # Kubernetes replaces the projected token: the next fetch presents it.
    with open(e["AZURE_FEDERATED_TOKEN_FILE"] + ".new", "w") as f:
        f.write(rotated + "\n")
    os.rename(e["AZURE_FEDERATED_TOKEN_FILE"] + ".new", e["AZURE_FEDERATED_TOKEN_FILE"])
    wait_for(lambda: rotated in idp.federated_seen, timeout=40, what="the rotated token")
    assert idp.federated_seen[0] == idpmod.FEDERATED
    assert lst.text().count("listener online") == 1
    assert_no_secrets(idp, lst)
    assert rotated not in lst.text()


ERRORS = [(400, '{"error": "invalid_request", "error_description": "AADSTS900144"}',
           r"answered HTTP 400 invalid_request"),
          (401, '{"error": "invalid_client", "error_description": "AADSTS7000215"}',
           r"answered HTTP 401 invalid_client"),
          (500, '{"error": {"code": "ServiceUnavailable", "message": "busy"}}',
           r"answered HTTP 500 ServiceUnavailable"),
          (200, '{"access_token": "x.y.z", "expires_in": ', r"the answer is not a JSON object")]


@pytest.mark.parametrize("status,body,says", ERRORS, ids=["400", "401", "500", "bad-json"])
def test_identity_endpoint_errors_are_logged_once_and_retried(env, idp, status, body, says):
    start_relay(env, idp)
    idp.fail(status, body, times=3)
    lst = listener(env, cred_env(idp, "secret"))
    lst.wait_log(r"listener online", timeout=60)
    log = lst.text()
    assert len(re.findall(r"Entra ID token \(credential \"default\"\): .*" + says, log)) == 1, log
    assert idp.count("secret", ok=False) == 3
    assert_no_secrets(idp, lst)


def test_an_exposed_secret_file_is_refused_by_name_until_fixed(env, idp):
    start_relay(env, idp)
    e = cred_env(idp, "secret-file")
    path = os.path.join(e["CREDENTIALS_DIRECTORY"], e["AZURE_CLIENT_SECRET_FILE"])
    os.chmod(path, 0o644)
    lst = listener(env, e, "environment")
    lst.wait_log(r"AZURE_CLIENT_SECRET_FILE: .*client-secret holds a secret but is readable "
                 r"by group or others \(mode 0644\); chmod 600 it", timeout=20)
    assert idp.received == 0
    os.chmod(path, 0o600)
    lst.wait_log(r"listener online", timeout=90)
    assert_no_secrets(idp, lst)


def test_a_wrong_certificate_password_is_a_clear_error(env, idp):
    start_relay(env, idp)
    e = cred_env(idp, "certificate-password")
    e["AZURE_CLIENT_CERTIFICATE_PASSWORD"] = "not-the-password"
    lst = listener(env, e, "environment")
    lst.wait_log(r"locked\.pem: no readable private key \(is "
                 r"AZURE_CLIENT_CERTIFICATE_PASSWORD right\?\)", timeout=20)
    assert idp.received == 0
    assert "not-the-password" not in lst.text()


def test_identity_endpoint_down_then_back(env, idp):
    start_relay(env, idp)
    idp.stop()
    lst = listener(env, cred_env(idp, "msi"), "managed-identity")
    lst.wait_log(r"Entra ID token \(credential \"managed-identity\"\): "
                 r"http://127\.0\.0\.1:\d+/msi: (Couldn't connect|Could not connect)", timeout=20)
    lst.wait_log(r"listener offline", timeout=10)
    idp.start()
    lst.wait_log(r"listener online", timeout=60)
    lst.wait_log(r"Entra ID token from the managed-identity credential")


def test_sender_reports_a_failing_credential_and_recovers(env, idp):
    start_relay(env, idp)
    port = free_port()
    listener(env, cred_env(idp, "secret")).wait_log(r"listener online", timeout=30)
    snd = bridge(env, "sender", cred_env(idp, "secret"), "-L", f"127.0.0.1:{port}:db")
    snd.wait_log(rf"listening on 127\.0\.0\.1:{port}\b")
    idp.fail(401, '{"error": "invalid_client"}', times=1)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.settimeout(20)
        assert c.recv(10) == b""           # closed: no token
    snd.wait_log(r"answered HTTP 401 invalid_client")
    wait_for(lambda: _echo_ok(port), timeout=30, step=0.5, what="the retried token")


def _echo_ok(port):
    try:
        echo(port)
        return True
    except (AssertionError, OSError):
        return False


@pytest.mark.parametrize("what", ["audience", "signature"])
def test_relay_refuses_a_bad_token_and_the_listener_retries(env, idp, what):
    start_relay(env, idp)
    if what == "audience":
        idp.aud = "https://vault.azure.net"
    else:
        idp.sign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    lst = listener(env, cred_env(idp, "msi"))
    lst.wait_log(r"listener refused by the relay: 401", timeout=30)
    env.relay.wait_log(r"audience|signature", timeout=10)
    assert "listener online" not in lst.text()
    assert_no_secrets(idp, lst)


def test_relay_refuses_a_role_that_does_not_grant_listen(env, idp):
    start_relay(env, idp, role="Azure Relay Sender")
    lst = listener(env, cred_env(idp, "msi"))
    lst.wait_log(r"listener refused by the relay: 403", timeout=30)
    assert "listener online" not in lst.text()


def test_a_stop_during_a_token_fetch_exits_cleanly(env, idp):
    """SIGTERM while the identity endpoint holds a request: the fetch is cut
    short and the daemon exits 0 at once, whether the fetch ends before the
    loop does or after (then it schedules nothing on a loop that is gone)."""
    start_relay(env, idp)
    idp.gate = threading.Event()
    lst = listener(env, cred_env(idp, "msi"))
    wait_for(lambda: idp.received >= 1, timeout=20, what="the token request")
    assert lst.stop() == 0, lst.text()
    idp.gate.set()


def test_az_sees_none_of_the_secrets_other_credentials_use(env, idp):
    """az runs with the daemon's environment less what other credentials
    hold: a client secret, a certificate password, a managed identity's
    header."""
    start_relay(env, idp)
    e = cred_env(idp, "az")
    e.update(AZURE_CLIENT_SECRET="for-another-credential", IDENTITY_HEADER="hdr",
             AZURE_CLIENT_CERTIFICATE_PASSWORD="pw", AZURE_CONFIG_DIR=env.tmp)
    lst, snd, port = pair(env, e, "azure-cli")
    echo(port)
    with open(os.path.join(idp.tmp, "bin", "az.env")) as f:
        seen = set(f.read().split())
    assert "AZURE_CONFIG_DIR" in seen and "PATH" in seen, seen
    assert not seen & {"AZURE_CLIENT_SECRET", "IDENTITY_HEADER",
                       "AZURE_CLIENT_CERTIFICATE_PASSWORD"}, seen


def test_without_a_usable_libcurl_a_credential_fails_by_name_and_the_bridge_runs_on(env, idp):
    """libcurl is opened when the first token is fetched, not linked: one
    that lacks its functions is an error naming it, said once, with no
    request made, and the daemon keeps running and stops cleanly (linked,
    such a library kept the daemon from starting at all)."""
    start_relay(env, idp)
    lib = os.path.join(env.tmp, "nocurl")
    os.makedirs(lib)
    with open(os.path.join(lib, "empty.c"), "w") as f:
        f.write("int not_libcurl;\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", os.path.join(lib, "libcurl.so.4"),
                    os.path.join(lib, "empty.c")], check=True)
    e = cred_env(idp, "msi")
    e["LD_LIBRARY_PATH"] = lib
    lst = listener(env, e, "managed-identity")
    lst.wait_log(r"Entra ID token \(credential \"managed-identity\"\): "
                 r"http://127\.0\.0\.1:\d+/msi: libcurl\.so\.4 could not be loaded", timeout=20)
    wait_for(lambda: lst.text().count("libcurl.so.4 has no curl_global_init") == 1, timeout=5,
             what="the library's fault, said once")
    assert idp.received == 0
    assert lst.p.poll() is None, lst.text()
    assert lst.stop() == 0, lst.text()
