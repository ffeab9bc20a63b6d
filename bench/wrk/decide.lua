-- wrk script for bench/decide_latency.py: POST /v1/decide bodies that vary principal, action and
-- resource, at an average of one request per PERIOD_MS per connection. Each connection waits a
-- random 0..2*PERIOD_MS after every answer, so the connections do not fire in lockstep and the
-- server sees arrivals spread out, close to an open-loop rate of connections / PERIOD_MS.
local actions = {
  {"ec2.amazonaws.com", "DescribeInstances"}, {"s3.amazonaws.com", "PutObject"},
  {"rds.amazonaws.com", "DeleteDBInstance"}, {"ec2.amazonaws.com", "RunInstances"},
  {"iam.amazonaws.com", "AttachRolePolicy"},
}
local period_ms = tonumber(os.getenv("PERIOD_MS") or "100")
local key = os.getenv("LEASH_KEY") or ""
local n = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  n = math.random(1000)
end

function delay()
  return math.random(0, 2 * period_ms)
end

function request()
  n = n + 1
  local a = actions[(n % #actions) + 1]
  local body = string.format(
    '{"principal":"arn:aws:sts::123456789012:assumed-role/bench-agent-%d/agent-run-%04da",' ..
    '"action":"%s","source":"%s","resources":["res-%d"]}', n % 50, n % 50, a[2], a[1], n % 20)
  return wrk.format("POST", "/v1/decide",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT requests=%d errors=%d seconds=%.3f p50=%.3f p95=%.3f " ..
    "p99=%.3f p999=%.3f max=%.3f\n", summary.requests, errors, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
