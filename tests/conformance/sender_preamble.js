// Microsoft's hyco-ws sender as an azbridge -L stand-in: it writes the
// bridge preamble itself, checks the reply, sends N random bytes and
// expects them back.
// usage: node sender_preamble.js SEND_URI KEY_NAME KEY PORT_NAME BYTES
'use strict';
const crypto = require('crypto');
const WebSocket = require('hyco-ws');

const [uri, keyName, key, portName, bytes] = process.argv.slice(2);
const data = crypto.randomBytes(parseInt(bytes, 10));
const token = WebSocket.createRelayToken(uri, keyName, key);
let got = Buffer.alloc(0);
let replied = false;
const timer = setTimeout(() => { console.log('timeout'); process.exit(2); }, 30000);

const ws = WebSocket.relayedConnect(uri, token, (c) => {
  const name = Buffer.from(portName);
  c.send(Buffer.concat([Buffer.from([1, 0, 0, name.length]), name]));
});
ws.on('message', (m) => {
  got = Buffer.concat([got, Buffer.from(m)]);
  if (!replied) {
    if (got.length < 3) return;
    const reply = got.slice(0, 3).toString('hex');
    console.log(`reply ${reply}`);
    if (reply !== '010000') process.exit(1);
    replied = true;
    got = got.slice(3);
    for (let off = 0; off < data.length; off += 65536) ws.send(data.slice(off, off + 65536));
  }
  if (replied && got.length >= data.length) {
    const same = crypto.createHash('sha256').update(got).digest('hex') ===
                 crypto.createHash('sha256').update(data).digest('hex');
    console.log(same ? 'echo ok' : 'echo differs');
    clearTimeout(timer);
    ws.close();
    process.exit(same ? 0 : 1);
  }
});
ws.on('error', (e) => { console.log('error', e.message); process.exit(1); });
ws.on('unexpected-response', (req, res) => { console.log('status', res.statusCode); process.exit(1); });
