// Microsoft's hyco-ws with a bearer token string instead of a SAS key, as a
// client holding an Entra ID token uses it.
// usage: node jwt_ws.js listen LISTEN_URI TOKEN TAG   (echoes; "TAG listening", "TAG conn N")
//        node jwt_ws.js send SEND_URI TOKEN BYTES     (sends, checks the echo: "ok")
'use strict';
const crypto = require('crypto');
const WebSocket = require('hyco-ws');

const [mode, uri, token, arg] = process.argv.slice(2);

function listen() {
  let conns = 0;
  const server = WebSocket.createRelayedServer({ server: uri, token }, (ws) => {
    conns += 1;
    console.log(`${arg} conn ${conns}`);
    ws.on('message', (data) => ws.send(Buffer.from(data)));
  });
  server.on('listening', () => console.log(`${arg} listening`));
  server.on('error', (e) => console.log(`${arg} error ${e && e.message}`));
}

function send() {
  const bytes = parseInt(arg, 10);
  const data = crypto.randomBytes(bytes);
  const got = [];
  let have = 0;
  setTimeout(() => { console.log('timeout'); process.exit(2); }, 60000);
  const ws = WebSocket.relayedConnect(uri, token, () => {
    for (let off = 0; off < data.length; off += 65536) ws.send(data.slice(off, off + 65536));
  });
  ws.on('message', (m) => {
    got.push(Buffer.from(m));
    have += m.length;
    if (have < bytes) return;
    console.log(Buffer.concat(got).equals(data) ? 'ok' : 'echo differs');
    process.exit(0);
  });
  ws.on('unexpected-response', (req, res) => { console.log(`status ${res.statusCode}`); process.exit(1); });
  ws.on('error', (e) => { console.log(`error ${e.message}`); process.exit(1); });
}

if (mode === 'listen') listen(); else send();
