-- wrk: one line with the latency percentiles (ms), the rate and the errors.
done = function(summary, latency, requests)
  local e = summary.errors
  local errs = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("RESULT %.2f %.2f %.2f %.1f %d %d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests / (summary.duration / 1e6),
    summary.requests, errs))
end
