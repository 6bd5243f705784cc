// A tiny reverse proxy for the conformance suite, which sends no Authorization header: it
// forwards every request to UPSTREAM (host:port) unchanged — method, path, body and every
// header including Host and Origin, so the suite's DNS-rebinding checks still reach the
// server as sent — and adds `Authorization: Bearer $BRAIN_MCP_TOKEN` where none is present.
// Prints one line `auth-proxy listening on http://127.0.0.1:PORT` on stdout.
import http from 'node:http';

const upstream = process.env.UPSTREAM;
const token = process.env.BRAIN_MCP_TOKEN;
if (!upstream || !token) {
  console.error('auth-proxy: UPSTREAM and BRAIN_MCP_TOKEN are required');
  process.exit(2);
}
const [upHost, upPort] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];

const server = http.createServer((req, res) => {
  const headers = { ...req.headers };
  if (!headers.authorization) headers.authorization = `Bearer ${token}`;
  const out = http.request({ host: upHost, port: upPort, method: req.method, path: req.url, headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.rawHeaders);
    up.pipe(res);
  });
  out.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`auth-proxy: ${e.message}\n`);
  });
  req.pipe(out);
});
server.keepAliveTimeout = 1000;
server.listen(0, '127.0.0.1', () => {
  console.log(`auth-proxy listening on http://127.0.0.1:${server.address().port}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
