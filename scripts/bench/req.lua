-- wrk script for every bench row. Settings come from the environment:
--   WRK_METHOD     GET (default) or POST
--   WRK_BODY_FILE  file whose bytes are the request body
--   WRK_CTYPE      Content-Type of the body
--   WRK_AUTH       Authorization header value (e.g. "Bearer ...")
--   WRK_ACCEPT     Accept header value
-- done() prints one machine-readable line for scripts/bench.sh:
--   RESULT rps=<req/s> p99_ms=<ms> p50_ms=<ms> requests=<n> non2xx=<n> errors=<n>
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body_file = os.getenv("WRK_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end
local function set(header, var)
  local v = os.getenv(var)
  if v and v ~= "" then wrk.headers[header] = v end
end
set("Content-Type", "WRK_CTYPE")
set("Authorization", "WRK_AUTH")
set("Accept", "WRK_ACCEPT")

function done(summary, latency, _requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.0f p99_ms=%.3f p50_ms=%.3f requests=%d non2xx=%d errors=%d\n",
    summary.requests / secs, latency:percentile(99.0) / 1000, latency:percentile(50.0) / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
