// Microsoft's hyco-ws sender writes a bridge preamble naming PORT_NAME and
// reports what the listener answers: "reply HEX" for bytes, then
// "close CODE REASON" when the websocket closes, "error ..." otherwise.
// usage: node sender_close.js SEND_URI KEY_NAME KEY PORT_NAME
'use strict';
const WebSocket = require('hyco-ws');

const [uri, keyName, key, portName] = process.argv.slice(2);
const timer = setTimeout(() => { console.log('timeout'); process.exit(2); }, 30000);
const ws = WebSocket.relayedConnect(uri, WebSocket.createRelayToken(uri, keyName, key), (c) => {
  const name = Buffer.from(portName);
  c.send(Buffer.concat([Buffer.from([1, 0, 0, name.length]), name]));
});
ws.on('message', (m) => console.log(`reply ${Buffer.from(m).toString('hex')}`));
ws.on('close', (code, reason) => {
  console.log(`close ${code} ${reason || ''}`);
  clearTimeout(timer);
  process.exit(0);
});
ws.on('error', (e) => { console.log(`error ${e.message}`); process.exit(1); });
