"""The token in the query under either name: sb-hc-token (what Microsoft's
clients send) and sbc-hc-token (how the protocol guide's URL templates spell
it). Where both are given, sb-hc-token is the one checked; neither reaches
a listener."""
import json
import urllib.parse

import pytest

from hcraw import Conn
from test_relay import curl, node, node_token, root_creds, run_node, start, uri


@pytest.mark.parametrize("param", ["sb-hc-token", "sbc-hc-token"])
def test_official_clients_authenticate_with_the_token_in_the_query(env, param):
    start(env)
    kn, key = root_creds(env)
    listen_tok = node_token(env, uri(env, "hyco", "listen"), kn, key)
    send_tok = node_token(env, uri(env, "hyco", "connect"), kn, key)
    rc, out = run_node(env, "token_param.js", uri(env, "hyco", "listen"), uri(env, "hyco", "connect"),
                       param, listen_tok, send_tok)
    assert rc == 0 and "echo ok" in out, out


def upgrade_with(env, query):
    c = Conn(env)
    status, _, raw = c.upgrade(f"/$hc/hyco?sb-hc-action=listen&sb-hc-id=spelling&{query}")
    c.close()
    return status, raw


def test_sb_hc_token_is_checked_when_both_are_given(env):
    start(env)
    kn, key = root_creds(env)
    good = urllib.parse.quote(node_token(env, uri(env, "hyco", "listen"), kn, key), safe="")
    bad = urllib.parse.quote(node_token(env, uri(env, "hyco", "listen"), kn, "d3Jvbmc="), safe="")
    assert upgrade_with(env, f"sbc-hc-token={good}")[0] == 101
    assert upgrade_with(env, f"sb-hc-token={good}&sbc-hc-token={bad}")[0] == 101
    assert upgrade_with(env, f"sbc-hc-token={bad}&sb-hc-token={good}")[0] == 101
    status, raw = upgrade_with(env, f"sb-hc-token={bad}&sbc-hc-token={good}")
    assert status == 401, raw
    assert upgrade_with(env, f"sbc-hc-token={bad}")[0] == 401


def test_http_request_with_sbc_hc_token_reaches_the_listener_without_it(env):
    start(env)
    kn, key = root_creds(env)
    srv = node(env, "https_server.js", uri(env, "web", "listen"), kn, key, tag="hyco-https")
    srv.wait_log(r"^listening", timeout=20)
    tok = urllib.parse.quote(node_token(env, "https://localhost/web", kn, key), safe="")
    base = f"https://localhost:{env.relay_port}/web/items/7"
    r = curl(env, "-i", f"{base}?color=red&sbc-hc-token={tok}&size=2")
    head, body = r.stdout.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), r.stdout + r.stderr
    assert json.loads(body)["url"] == "/web/items/7?color=red&size=2"
    r = curl(env, "-o", "/dev/null", "-w", "%{http_code}", f"{base}?sbc-hc-token=nonsense")
    assert r.stdout == b"401"
