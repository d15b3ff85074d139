// Microsoft's hyco-ws sender: CONNS connections at once, each sends BYTES
// random bytes in 64 KiB messages and checks that the same bytes come back.
// Prints "sent SHA256" for the first connection and "ok N" when all match.
// usage: node ws_sender.js SEND_URI KEY_NAME KEY BYTES CONNS
'use strict';
const crypto = require('crypto');
const WebSocket = require('hyco-ws');

const [uri, keyName, key, bytesArg, connsArg] = process.argv.slice(2);
const bytes = parseInt(bytesArg, 10);
const conns = parseInt(connsArg || '1', 10);
const timer = setTimeout(() => { console.log(`timeout after ${done} ok`); process.exit(2); }, 60000);
let done = 0;

function one(i) {
  const data = crypto.randomBytes(bytes);
  const want = crypto.createHash('sha256').update(data).digest('hex');
  if (i === 0) console.log(`sent ${want}`);
  const got = [];
  let have = 0;
  const ws = WebSocket.relayedConnect(uri, WebSocket.createRelayToken(uri, keyName, key), () => {
    for (let off = 0; off < data.length; off += 65536) ws.send(data.slice(off, off + 65536));
  });
  ws.on('message', (m) => {
    got.push(Buffer.from(m));
    have += m.length;
    if (have < bytes) return;
    const sha = crypto.createHash('sha256').update(Buffer.concat(got)).digest('hex');
    if (sha !== want) { console.log(`conn ${i}: echo differs`); process.exit(1); }
    ws.close();
    if (++done === conns) { console.log(`ok ${done}`); clearTimeout(timer); process.exit(0); }
  });
  ws.on('error', (e) => { console.log(`conn ${i}: error ${e.message}`); process.exit(1); });
}
for (let i = 0; i < conns; i++) one(i);
