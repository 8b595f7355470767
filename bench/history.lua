-- wrk script: GET /api/message/<chatId>?limit=50 (the newest page) with a Bearer token.
-- rest_bench.sh sets BENCH_PATH and BENCH_TOKEN.
local path = os.getenv("BENCH_PATH")
local token = os.getenv("BENCH_TOKEN")
assert(path and #path > 0, "BENCH_PATH is not set")
assert(token and #token > 0, "BENCH_TOKEN is not set")
wrk.method = "GET"
wrk.path = path
wrk.headers["Authorization"] = "Bearer " .. token
