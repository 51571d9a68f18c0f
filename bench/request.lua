-- wrk request generator shared by every load step of bench/secrets.sh.
--
-- Configured through the environment so one script serves both servers:
--   BENCH_METHOD       GET, PUT or POST
--   BENCH_PATH         request path with one %d, replaced by a secret number
--   BENCH_N            secret numbers are drawn uniformly from 1..BENCH_N
--   BENCH_AUTH_HEADER  header name carrying the credential
--   BENCH_AUTH_VALUE   its value
--   BENCH_BODY         request body (optional; sent with Content-Type JSON)

local method = os.getenv("BENCH_METHOD") or "GET"
local path_fmt = os.getenv("BENCH_PATH") or "/%d"
local n = tonumber(os.getenv("BENCH_N") or "1")
local body = os.getenv("BENCH_BODY")
if body == "" then body = nil end

local headers = {}
headers[os.getenv("BENCH_AUTH_HEADER") or "Authorization"] = os.getenv("BENCH_AUTH_VALUE") or ""
if body then headers["Content-Type"] = "application/json" end

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  -- Distinct, reproducible sequence per thread.
  math.randomseed(1000 + (thread_id or 0))
end

function request()
  local path = string.format(path_fmt, math.random(n))
  return wrk.format(method, path, headers, body)
end
