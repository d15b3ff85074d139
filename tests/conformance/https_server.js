// Microsoft's hyco-https server behind our relay: GET answers with the
// request it saw (or big=N bytes), POST echoes the body with its digest, HEAD answers the
// headers a GET would have. usage: node https_server.js LISTEN_URI KEY_NAME KEY
'use strict';
const crypto = require('crypto');
const https = require('hyco-https');

const [uri, keyName, key] = process.argv.slice(2);
const server = https.createRelayedServer(
  { server: uri, token: () => https.createRelayToken(uri, keyName, key) },
  (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(Buffer.from(c)));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url.includes('hang')) return;      // never answers: the relay's 504
      const digest = crypto.createHash('sha256').update(body).digest('hex');
      if (req.method === 'POST') {
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('X-Body-Sha256', digest);
        res.end(body);
        return;
      }
      const big = /[?&]big=(\d+)/.exec(req.url);
      if (big) {
        const out = Buffer.alloc(parseInt(big[1], 10), 'abcdefghijklmnopqrstuvwxyz');
        res.setHeader('X-Body-Sha256', crypto.createHash('sha256').update(out).digest('hex'));
        res.end(out);
        return;
      }
      const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers,
                                    bodyLength: body.length });
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Content-Length', Buffer.byteLength(text));
      res.setHeader('X-Served-By', 'hyco-https');
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      res.statusCode = req.url.includes('status=201') ? 201 : 200;
      res.end(text);
    });
  });
server.listen();
server.on('listening', () => console.log('listening'));
server.on('error', (e) => console.log('error', e && e.message));
