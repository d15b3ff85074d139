"""`make run`'s demo, driven non-interactively: one request through the
tunnel and one through the HTTP forward at the relay's HTTPS address."""
import os
import re
import subprocess

from conftest import BUILD, ROOT


def test_make_run_demo_serves_a_request():
    env = dict(os.environ, AZB_DEMO_CHECK="1", BUILD=os.path.relpath(BUILD, ROOT))
    r = subprocess.run(["tests/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("Hello from the service behind the relay.") == 2
    assert "curl http://127.0.0.1:" in r.stdout
    assert re.search(r"curl --cacert \S+ https://localhost:\d+/latavola/", r.stdout)
