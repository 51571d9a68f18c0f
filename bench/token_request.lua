-- wrk request generator of bench/token_endpoint.sh: one client-credentials token request, the form body from
-- BENCH_BODY.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
