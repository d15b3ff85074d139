// What Microsoft's hyco-ws gets from the relay for one listen or connect
// attempt: prints "status NNN" (or "open") and exits.
// usage: node ws_probe.js listen|connect URI KEY_NAME KEY [TOKEN_SECONDS]
'use strict';
const WebSocket = require('hyco-ws');

const [mode, uri, keyName, key, secs] = process.argv.slice(2);
const token = WebSocket.createRelayToken(uri, keyName, key, secs ? parseInt(secs, 10) : undefined);
function report(e) {
  const m = /(\d{3})/.exec((e && e.message) || '');
  console.log(m ? `status ${m[1]}` : `error ${e && e.message}`);
  process.exit(0);
}
setTimeout(() => { console.log('timeout'); process.exit(2); }, 20000);
if (mode === 'listen') {
  const server = WebSocket.createRelayedServer({ server: uri, token }, () => {});
  server.on('listening', () => { console.log('open'); process.exit(0); });
  server.on('error', report);
} else {
  const ws = WebSocket.relayedConnect(uri, token, () => { console.log('open'); process.exit(0); });
  ws.on('error', report);
}
