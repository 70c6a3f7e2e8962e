-- POST /api/v1/auth/login (OAuth2 password form), rotating over LOGIN_USERS accounts named
-- USERNAME000, USERNAME001, ...: concurrent sign-ins of one account conflict (409) on the
-- user row, which is not what a login benchmark should measure. PASSWORD must be URL-safe.
local prefix = os.getenv("USERNAME")
local users = tonumber(os.getenv("LOGIN_USERS"))
local password = os.getenv("PASSWORD")
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

request = function()
  counter = counter + 1
  local n = (counter * 17 + tid * 101) % users
  local body = string.format("username=%s%03d&password=%s", prefix, n, password)
  return wrk.format("POST", wrk.path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end
