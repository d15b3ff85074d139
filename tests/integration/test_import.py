"""azbridgectl import end to end: the original's YAML files (a machine file
and a user file for the client, one file for the server) become drop-ins,
and azbridged started on them carries TCP and Unix-socket tunnels through
our relay."""
import os
import subprocess

from conftest import BUILD, Proc, echo_server, free_port, round_trip

CTL = os.path.join(BUILD, "azbridgectl")


def import_to(env, name, *yml):
    """The YAML texts as files, imported into NAME.conf.d/60-imported.conf
    next to a main file that only points at the relay's CA; returns the main
    file."""
    files = []
    for i, text in enumerate(yml):
        path = os.path.join(env.tmp, f"{name}-{i}.yml")
        with open(path, "w") as f:
            f.write(text)
        files.append(path)
    main = os.path.join(env.tmp, f"{name}.conf")
    with open(main, "w") as f:
        f.write(f'ca_file = "{env.ca}";\ncontrol_socket = "{env.tmp}/{name}.sock";\n'
                'stop_timeout = 1;\n')
    os.chmod(main, 0o600)
    os.makedirs(main + ".d")
    dropin = os.path.join(main + ".d", "60-imported.conf")
    r = subprocess.run([CTL, "import", "-o", dropin, *files], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert os.stat(dropin).st_mode & 0o777 == 0o600
    assert env.conn_str.split("SharedAccessKey=")[1] not in r.stderr
    return main


def start(env, name, main):
    p = Proc(name, [os.path.join(BUILD, "azbridged"), "--foreground", "-v", "-c", main], env.tmp)
    env.procs.append(p)
    return p


def test_imported_files_carry_tunnels(env):
    env.start_relay()
    target, tcp_port, sock_port = free_port(), free_port(), free_port()
    sock = os.path.join(env.tmp, "echo.sock")
    echo_server(target, banner=b"tcp:")
    echo_server(unix_path=sock, banner=b"unix:")
    server = import_to(env, "server", f"""
AzureRelayConnectionString: "{env.conn_str}"
RemoteForward:
  - RelayName: db
    Bindings:
      - {{ Host: 127.0.0.1, HostPort: {target}, PortName: tcp }}
      - {{ LocalSocket: {sock}, PortName: sock }}
""")
    # The machine file holds the connection and a forward the user's file
    # clears; the user's file brings its own.
    client = import_to(env, "client", f"""
AzureRelayConnectionString: '{env.conn_str}'
LogLevel: info
LocalForward:
  - {{ RelayName: gone, BindAddress: 127.0.0.1, BindPort: {free_port()} }}
""", f"""
ClearAllForwardings: yes
LocalForward:
  - RelayName: db
    Bindings:
      - {{ BindAddress: 127.0.0.1, BindPort: {tcp_port}, PortName: tcp }}
      - {{ BindAddress: 127.0.0.1, BindPort: {sock_port}, PortName: sock }}
""")
    with open(os.path.join(client + ".d", "60-imported.conf")) as f:
        assert "gone" not in f.read()
    start(env, "server", server).wait_log(r"listener online")
    c = start(env, "client", client)
    c.wait_log(rf"listening on 127\.0\.0\.1:{sock_port}\b")
    assert round_trip(tcp_port, b"through the relay") == b"tcp:through the relay"
    assert round_trip(sock_port, b"to a socket") == b"unix:to a socket"


def test_a_bad_file_writes_nothing(env):
    """An unknown key is an error, as in the original, with file, line and
    column; no drop-in appears."""
    path = os.path.join(env.tmp, "bad.yml")
    with open(path, "w") as f:
        f.write("AzureRelayEndpoint: sb://localhost/\nLocalForward:\n  - RelayName: db\n"
                "    BindPort: 5000\n    RemoteHostName: db.example\n")
    out = os.path.join(env.tmp, "out.conf")
    r = subprocess.run([CTL, "import", "-o", out, path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert f"{path}:5:5: unknown key RemoteHostName" in r.stderr
    assert not os.path.exists(out)
