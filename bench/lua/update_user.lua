-- PATCH /api/v1/system/users/{id}, spreading requests over ids ID_MIN..ID_MAX so that
-- concurrent connections rarely update the same row. TOKEN, ID_MIN, ID_MAX from the env.
local token = os.getenv("TOKEN")
local id_min = tonumber(os.getenv("ID_MIN"))
local span = tonumber(os.getenv("ID_MAX")) - id_min + 1
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

request = function()
  counter = counter + 1
  local id = id_min + ((counter * 7919 + tid * 104729) % span)
  local body = string.format('{"remark":"bench update %d-%d"}', tid, counter)
  return wrk.format("PATCH", "/api/v1/system/users/" .. id, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
