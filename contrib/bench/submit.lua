-- SPDX-License-Identifier: BSD-3-Clause
--
-- wrk script of contrib/bench/run: POST /submit with Test Run entries
-- shaped like the real MTT client's (shared/cases/real-client/), every
-- entry unique so that none is a duplicate.
--
--   wrk ... -s submit.lua URL -- TAG ENTRIES MODE AUTH BUILD_ID USER
--
-- TAG makes names unique across runs; ENTRIES is the number of entries a
-- submission carries; MODE "names" gives every entry its own test name
-- (a new test_names row each), MODE "stdout" uses the ENTRIES test names
-- bench_fixed_NNN made beforehand and makes the entry unique through its
-- result_stdout and start_timestamp instead (every normalised row exists;
-- the timestamp differs as a nightly rerun's does, so the duplicate check
-- finds few candidates through its index, as it would in production).  AUTH is the
-- Authorization header value, BUILD_ID the test_build_id to link.
-- Answers other than HTTP 200 with "status":0 are counted as failures;
-- done() prints one "BENCH key=value ..." line for the runner.

local threads = {}

function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

local function jstr(s)
	return '"' .. s .. '"'  -- the names made here need no escaping
end

function init(args)
	tag = args[1] or "x"
	entries = tonumber(args[2] or "1")
	mode = args[3] or "names"
	auth = args[4]
	build_id = args[5] or "1"
	user = args[6] or "bench"
	counter = 0
	base_time = os.time({year = 2020, month = 1, day = 1, hour = 0})
	oks = 0
	failures = 0
	headers = {
		["Content-Type"] = "application/json",
		["Authorization"] = auth,
		["User-Agent"] = "python-requests/2.28.1",
		["Accept"] = "*/*",
		["Accept-Encoding"] = "gzip, deflate",
		["Connection"] = "keep-alive",
	}
	head = '{"metadata": {"client_serial": 9001, "hostname": "client-host", '
	    .. '"http_username": ' .. jstr(user) .. ', '
	    .. '"local_username": "mtt-local", "mtt_client_version": "4.0a1", '
	    .. '"platform_name": "mttd-bench", "trial": 0, "phase": "Test Run"}, '
	    .. '"data": ['
	tail = ']}'
end

local function entry(name, out, when)
	return '{"test_build_id": ' .. build_id .. ', "launcher": "mpirun", '
	    .. '"test_name": ' .. jstr(name) .. ', "np": "2", '
	    .. '"command": "mpirun -np 2 /home/mtt/nightly/run-1/scratch/TestGet_Suite/'
	    .. name .. '", '
	    .. '"start_timestamp": "' .. when .. '", "exit_value": 0, '
	    .. '"test_result": 1, "result_message": "Success", '
	    .. '"description": "mttd bench", "environment": "", '
	    .. '"merge_stdout_stderr": 0, '
	    .. '"result_stdout": ' .. jstr(out) .. ', "result_stderr": ""}'
end

function request()
	counter = counter + 1
	local parts = {}
	for i = 1, entries do
		local uniq = tag .. "_" .. tid .. "_" .. counter .. "_" .. i
		if mode == "names" then
			local name = "bench_" .. uniq
			parts[i] = entry(name, name .. ": hello from rank 0 of 1",
			    "Fri Dec  4 14:10:40 2026")
		else
			local name = string.format("bench_fixed_%03d", i - 1)
			-- A second of its own for every entry of this thread.
			local t = base_time + tid * 100000000 + counter * entries + i
			parts[i] = entry(name, name .. ": hello from rank 0 of 1 " .. uniq,
			    os.date("!%a %b %e %H:%M:%S %Y", t))
		end
	end
	return wrk.format("POST", "/submit", headers,
	    head .. table.concat(parts, ", ") .. tail)
end

function response(status, hdrs, body)
	if status == 200 and string.find(body, '"status":0', 1, true) then
		oks = oks + 1
	else
		failures = failures + 1
		if failures <= 3 then
			io.stderr:write("BENCH-FAIL " .. status .. " " ..
			    string.sub(body, 1, 300) .. "\n")
		end
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
