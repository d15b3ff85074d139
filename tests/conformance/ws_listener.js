// Microsoft's hyco-ws listener that echoes every message and reports what
// it took: "conn N" per accepted connection, "received BYTES SHA256" when a
// connection ends. usage: node ws_listener.js LISTEN_URI KEY_NAME KEY TAG
'use strict';
const crypto = require('crypto');
const WebSocket = require('hyco-ws');

const [uri, keyName, key, tag] = process.argv.slice(2);
let conns = 0;
const server = WebSocket.createRelayedServer(
  { server: uri, token: () => WebSocket.createRelayToken(uri, keyName, key) },
  (ws) => {
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    conns += 1;
    console.log(`${tag} conn ${conns}`);
    ws.on('message', (data) => {
      const b = Buffer.from(data);
      hash.update(b);
      bytes += b.length;
      ws.send(b);
    });
    ws.on('close', () => console.log(`${tag} received ${bytes} ${hash.digest('hex')}`));
  });
server.on('listening', () => console.log(`${tag} listening`));
server.on('error', (e) => console.log(`${tag} error ${e && e.message}`));
