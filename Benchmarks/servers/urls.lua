-- wrk script for serve-vs-nginx.sh: requests the paths of a file (one per line) in turn, each
-- thread starting at a different line; prints one machine-readable RESULT line at the end.
-- Argument (after `--`): PATHS_FILE. Environment WRK_DELAY_MS > 0 (read when the script loads:
-- wrk routes every request through a timer as soon as a `delay` function exists, so it is defined
-- only then) makes every connection wait that long after each response before its next
-- request: C connections then offer about
-- C * 1000 / (DELAY_MS + latency) requests per second (a rate limit for latency at a fixed load;
-- wrk measures each latency from the request's send to its response, the delay excluded).
local paths = {}
local index = 0
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0") or 0

function init(args)
    local file = assert(io.open(args[1], "r"))
    for line in file:lines() do
        if #line > 0 then paths[#paths + 1] = line end
    end
    file:close()
    assert(#paths > 0, "no paths in " .. args[1])
    index = math.random(#paths)
end

function request()
    index = index % #paths + 1
    return wrk.format("GET", paths[index])
end

if pause > 0 then
    delay = function()
        return pause
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d errors=%d status_errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
        e.connect + e.read + e.write + e.timeout, e.status))
end
