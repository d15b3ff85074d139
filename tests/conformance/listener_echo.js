// Microsoft's hyco-ws listener as an azbridge -T stand-in: it checks the
// bridge preamble byte for byte, answers it, then echoes everything.
// usage: node listener_echo.js LISTEN_URI KEY_NAME KEY
'use strict';
const WebSocket = require('hyco-ws');

const [uri, keyName, key] = process.argv.slice(2);
const server = WebSocket.createRelayedServer(
  { server: uri, token: () => WebSocket.createRelayToken(uri, keyName, key) },
  (ws) => {
    let pre = Buffer.alloc(0);
    let open = false;
    ws.on('message', (data) => {
      if (open) {
        ws.send(data);
        return;
      }
      pre = Buffer.concat([pre, Buffer.from(data)]);
      if (pre.length < 4 || pre.length < 4 + pre[3]) return;
      const name = pre.slice(4, 4 + pre[3]).toString();
      const ok = pre[0] === 1 && pre[1] === 0 && pre[2] === 0;
      console.log(`preamble ${ok ? 'ok' : 'bad'} ${pre.slice(0, 4).toString('hex')} name=${name}`);
      ws.send(Buffer.from(ok ? [1, 0, 0] : [0, 0, 0]));
      open = ok;
      const rest = pre.slice(4 + pre[3]);
      if (open && rest.length) ws.send(rest);
    });
  });
server.on('listening', () => console.log('listening'));
server.on('error', (e) => console.log('error', e && e.message));
