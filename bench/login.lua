-- wrk script: POST /api/user/login with one fixed user's credentials.
-- BENCH_BODY holds the JSON body ({"email":...,"password":...}); rest_bench.sh sets it.
-- The request is built once and replayed as is, so wrk spends almost nothing per request.
local body = os.getenv("BENCH_BODY")
assert(body and #body > 0, "BENCH_BODY is not set")
wrk.method = "POST"
wrk.path = "/api/user/login"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
