-- wrk script: GET /api/v1/content/{id} with ids 1..N drawn Zipf(s) (rank k has weight 1/k^s).
-- N and s come from ZIPF_N / ZIPF_S; the seed is fixed so runs are comparable.
local n = tonumber(os.getenv("ZIPF_N") or "2000")
local s = tonumber(os.getenv("ZIPF_S") or "1.0")
local cdf, total = {}, 0
for k = 1, n do
  total = total + 1 / (k ^ s)
  cdf[k] = total
end
for k = 1, n do cdf[k] = cdf[k] / total end
math.randomseed(42)

request = function()
  local u, lo, hi = math.random(), 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return wrk.format("GET", "/api/v1/content/" .. lo)
end

-- WRK_DELAY_MS > 0: each connection waits that long after each answer, so wrk runs near a
-- chosen rate (connections / (delay + latency)) instead of as fast as it goes.
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
if pause > 0 then delay = function() return pause end end

-- Count non-2xx answers so a run of 404s/503s cannot pass for throughput.
local bad = 0
response = function(status) if status ~= 200 then bad = bad + 1 end end
done = function(summary) io.write(string.format("non-200: %d\n", summary.errors.status)) end
