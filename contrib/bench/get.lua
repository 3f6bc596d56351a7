-- SPDX-License-Identifier: BSD-3-Clause
--
-- wrk script of contrib/bench/run for GET / (mttd or the minimal evhttp
-- server): checks every answer is 200 with the health body and prints one
-- "BENCH key=value ..." line for the runner.

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	oks = 0
	failures = 0
end

function response(status, hdrs, body)
	if status == 200 and body == '{"status":0,"status_message":"Success"}' then
		oks = oks + 1
	else
		failures = failures + 1
	end
end

function done(summary, latency, requests)
	local ok, failed = 0, 0
	for _, t in ipairs(threads) do
		ok = ok + t:get("oks")
		failed = failed + t:get("failures")
	end
	local e = summary.errors
	io.write(string.format(
	    "BENCH ok=%d failed=%d requests=%d duration_us=%d "
	    .. "p50_us=%d p99_us=%d max_us=%d sock_errors=%d\n",
	    ok, failed, summary.requests, summary.duration,
	    latency:percentile(50), latency:percentile(99), latency.max,
	    e.connect + e.read + e.write + e.timeout + e.status))
end
