-- wrk request for bench/keys.sh: one fixed request, sent again and again.
--
-- The request is built once. The script defines no request() and no
-- response() function, so wrk sends a pre-built buffer and never enters Lua
-- per request. That keeps the load generator's own CPU use, which shares the
-- cores with the server under test, as low as wrk allows.
--
-- Configured through the environment:
--   BENCH_METHOD       HTTP method (POST when unset)
--   BENCH_PATH         request path with its query string
--   BENCH_BODY         JSON body (sent with Content-Type: application/json)
--   BENCH_AUTH_HEADER  header name carrying the credential
--   BENCH_AUTH_VALUE   its value

wrk.method = os.getenv("BENCH_METHOD") or "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
wrk.headers[os.getenv("BENCH_AUTH_HEADER") or "Authorization"] = os.getenv("BENCH_AUTH_VALUE") or ""
