-- wrk script: POST /api/message {content, chatId} with a Bearer token. No clientMsgId, so every
-- request creates (and durably commits) a new message. rest_bench.sh sets BENCH_BODY and BENCH_TOKEN.
local body = os.getenv("BENCH_BODY")
local token = os.getenv("BENCH_TOKEN")
assert(body and #body > 0, "BENCH_BODY is not set")
assert(token and #token > 0, "BENCH_TOKEN is not set")
wrk.method = "POST"
wrk.path = "/api/message"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
