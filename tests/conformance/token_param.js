// Microsoft's hyco-ws listener and sender with the token in the query
// under a name given (sb-hc-token, or sbc-hc-token as the protocol guide's
// URL templates spell it) and no ServiceBusAuthorization header: the
// listener echoes, the sender checks the echo.
// Prints "listening", then "echo ok"; "error ..." or "status N" otherwise.
// usage: node token_param.js LISTEN_URI SEND_URI PARAM LISTEN_TOKEN SEND_TOKEN
'use strict';
const crypto = require('crypto');
const WebSocket = require('hyco-ws');

const [listenUri, sendUri, param, listenToken, sendToken] = process.argv.slice(2);
const withToken = (u, t) => `${u}&${param}=${encodeURIComponent(t)}`;
const timer = setTimeout(() => { console.log('timeout'); process.exit(2); }, 30000);
const data = crypto.randomBytes(100000);

// An empty token: hyco-ws then sends no header, only the query's.
const server = WebSocket.createRelayedServer({ server: withToken(listenUri, listenToken), token: '' },
  (ws) => { ws.on('message', (m) => ws.send(m)); });
server.on('error', (e) => { console.log(`error ${e && e.message}`); process.exit(1); });
server.on('listening', () => {
  console.log('listening');
  const ws = WebSocket.relayedConnect(withToken(sendUri, sendToken), null, () => ws.send(data));
  let got = Buffer.alloc(0);
  ws.on('message', (m) => {
    got = Buffer.concat([got, Buffer.from(m)]);
    if (got.length < data.length) return;
    console.log(got.equals(data) ? 'echo ok' : 'echo differs');
    clearTimeout(timer);
    process.exit(got.equals(data) ? 0 : 1);
  });
  ws.on('unexpected-response', (req, res) => { console.log(`status ${res.statusCode}`); process.exit(1); });
  ws.on('error', (e) => { console.log(`error ${e.message}`); process.exit(1); });
});
