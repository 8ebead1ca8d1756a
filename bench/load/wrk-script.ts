// The Lua script given to wrk: optionally cycles through a list of paths, and prints its summary as one JSON line.

/**
 * With `pathsFile`, every request takes the next path of that file (each thread starting at its own
 * offset); without it wrk sends its fixed request, which costs it less CPU per request. `done` runs
 * once at the end with the merged summary; latencies are in microseconds, measured by wrk from the
 * moment a request is written (so a new connection's handshake is not in them).
 */
export function wrkScript(pathsFile: string | undefined): string {
  const mix =
    pathsFile === undefined
      ? ''
      : `
local paths = {}
local next_index = 1
init = function(args)
  for line in io.lines(${JSON.stringify(pathsFile)}) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  next_index = math.random(#paths)
end
request = function()
  local path = paths[next_index]
  next_index = next_index % #paths + 1
  return wrk.format("GET", path)
end
`;
  return `${mix}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"bytes":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;
}
