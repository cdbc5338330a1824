-- wrk script for nagent serve (bench/serve_webhook.cpp and tests/serve_load_test.cpp).
-- With NAGENT_WRK_BODY and NAGENT_WRK_SIGNATURE set, every request is POST /hooks/github:
-- a signed issue_comment command with a fresh X-GitHub-Delivery (so each one is verified,
-- deduplicated against the store and enqueued as a new job). Without them, wrk's plain GET.
-- At the end it prints one machine-readable line (bench/wrk_summary.h reads it).
local body = os.getenv("NAGENT_WRK_BODY")
local signature = os.getenv("NAGENT_WRK_SIGNATURE")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("prefix", tostring(os.time()) .. "-" .. threads .. "-")
end

if body then
  local n = 0
  function request()
    n = n + 1
    return wrk.format("POST", "/hooks/github", {
      ["Content-Type"] = "application/json",
      ["X-GitHub-Event"] = "issue_comment",
      ["X-GitHub-Delivery"] = prefix .. n,
      ["X-Hub-Signature-256"] = signature,
    }, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("NAGENT_WRK requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
