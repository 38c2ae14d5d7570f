-- wrk hook: print one machine-readable line with throughput and latency percentiles (ms).
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"rps":%.3f,"p50":%.4f,"p99":%.4f,"p999":%.4f,"min":%.4f,"max":%.4f,"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.min / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
