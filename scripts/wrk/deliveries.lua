-- Sends the signed deliveries `examples/wrk_deliveries.rs` wrote, each
-- once, split between wrk's threads; once a thread has sent all of its
-- share it starts again (copies then measure the duplicate path). Line
-- one is the body, `{WEBHOOK_ID}` in it replaced by each delivery's id.
--
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk/deliveries.lua \
--     http://127.0.0.1:3000/webhooks/gemini -- /tmp/deliveries.tsv 2
--
-- Arguments after `--`: the deliveries file and the thread count (-t).

-- `setup` runs in wrk's main Lua state; each thread's own state gets its
-- index as the global `thread_index`.
local threads_set_up = 0

function setup(thread)
  thread:set("thread_index", threads_set_up)
  threads_set_up = threads_set_up + 1
end

function init(args)
  local path = args[1] or "deliveries.tsv"
  local threads = tonumber(args[2] or "1")
  local file = assert(io.open(path, "r"))
  body = file:read("*l")
  ids, timestamps, signatures = {}, {}, {}
  local line_number = 0
  for line in file:lines() do
    if line_number % threads == thread_index then
      local id, timestamp, signature = line:match("^([^\t]+)\t([^\t]+)\t(.+)$")
      table.insert(ids, id)
      table.insert(timestamps, timestamp)
      table.insert(signatures, signature)
    end
    line_number = line_number + 1
  end
  file:close()
  next_row = 0
end

function request()
  next_row = next_row + 1
  if next_row > #ids then
    next_row = 1
  end
  return wrk.format("POST", nil, {
    ["content-type"] = "application/json",
    ["webhook-id"] = ids[next_row],
    ["webhook-timestamp"] = timestamps[next_row],
    ["webhook-signature"] = signatures[next_row],
  }, (body:gsub("{WEBHOOK_ID}", ids[next_row])))
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n",
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
