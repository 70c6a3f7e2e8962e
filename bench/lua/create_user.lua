-- POST /api/v1/system/users with a unique username per request: PREFIX (unique per run and
-- phase) + wrk thread number + a per-thread counter. TOKEN, PREFIX, PASSWORD, DEPT from the env.
local token = os.getenv("TOKEN")
local prefix = os.getenv("PREFIX")
local password = os.getenv("PASSWORD")
local dept = os.getenv("DEPT")
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

request = function()
  counter = counter + 1
  local name = string.format("%s_%d_%d", prefix, tid, counter)
  local body = string.format(
    '{"username":"%s","name":"Bench %s","email":"%s@bench.example.com","password":"%s",' ..
    '"must_change_password":false,"dept_id":%s}', name, name, name, password, dept)
  return wrk.format("POST", wrk.path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
