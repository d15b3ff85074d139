// Microsoft's hyco-https server behind our relay, with one case per path:
//   POST /echo       the body back, X-Body-Sha256 and X-Body-Length of what arrived
//   POST /sink       only the digest and length of what arrived
//   GET|HEAD /big?n=N  N bytes of a fixed pattern (HEAD: the same headers)
//   GET /status/S    status S (204, 304, ...) and nothing else
//   POST /early      501 at once, before the body is read
//   GET /hang        never answers
// Each request logs "request METHOD URL". usage: node http_cases.js LISTEN_URI KEY_NAME KEY
'use strict';
const crypto = require('crypto');
const https = require('hyco-https');

const [uri, keyName, key] = process.argv.slice(2);

function pattern(n) {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >> 11)) & 0xff;
  return out;
}

// hyco-https never sends a response ended with an empty buffer: end() alone.
function endWith(res, body) {
  if (body.length) res.end(body);
  else res.end();
}

function answerBody(req, res, body) {
  const digest = crypto.createHash('sha256').update(body).digest('hex');
  res.setHeader('X-Body-Sha256', digest);
  res.setHeader('X-Body-Length', String(body.length));
  if (req.url.startsWith('/web/echo')) {
    res.setHeader('Content-Type', 'application/octet-stream');
    endWith(res, body);
    return;
  }
  res.setHeader('Content-Type', 'text/plain');
  res.end(`${body.length} ${digest}\n`);
}

function answerGet(req, res) {
  const big = /^\/web\/big\?n=(\d+)/.exec(req.url);
  const status = /^\/web\/status\/(\d+)/.exec(req.url);
  if (big) {
    const out = pattern(parseInt(big[1], 10));
    res.setHeader('X-Body-Sha256', crypto.createHash('sha256').update(out).digest('hex'));
    res.setHeader('Content-Length', String(out.length));
    if (req.method === 'HEAD') res.end();
    else endWith(res, out);
  } else if (status) {
    res.statusCode = parseInt(status[1], 10);
    res.setHeader('ETag', '"v1"');
    res.end();
  } else {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`${req.method} ${req.url}\n`);
  }
}

const server = https.createRelayedServer(
  { server: uri, token: () => https.createRelayToken(uri, keyName, key) },
  (req, res) => {
    console.log(`request ${req.method} ${req.url}`);
    if (req.url.startsWith('/web/early')) {
      res.statusCode = 501;
      res.setHeader('Content-Type', 'text/plain');
      res.end('not here\n');
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(Buffer.from(c)));
    req.on('end', () => {
      if (req.url.startsWith('/web/hang')) return;
      if (req.method === 'POST' || req.method === 'PUT') answerBody(req, res, Buffer.concat(chunks));
      else answerGet(req, res);
    });
  });
server.listen();
server.on('listening', () => console.log('listening'));
server.on('error', (e) => console.log('error', e && e.message));
