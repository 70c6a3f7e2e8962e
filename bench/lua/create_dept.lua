-- POST /api/v1/system/depts: a new department under DEPT with a unique code per request:
-- PREFIX (unique per run and phase) + wrk thread number + a per-thread counter.
-- TOKEN, PREFIX, DEPT from the env. No password hash: the write path and its audit only.
local token = os.getenv("TOKEN")
local prefix = os.getenv("PREFIX")
local dept = os.getenv("DEPT")
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

request = function()
  counter = counter + 1
  local code = string.format("%s-%d-%d", prefix, tid, counter)
  local body = string.format(
    '{"parent_id":%s,"name":"Bench team %s","code":"%s"}', dept, code, code)
  return wrk.format("POST", wrk.path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
