-- wrk script: device check-ins, each request from the next of many devices (tokens file, one per line).
local tokens = {}
local index = 0

function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  index = math.random(#tokens)
end

local body = '{"version":"1.0.0","slot":"a","health":"ok"}'

function request()
  index = index % #tokens + 1
  return wrk.format("POST", "/api/v1/device/checkin",
    {["Authorization"] = "Bearer " .. tokens[index], ["Content-Type"] = "application/json"}, body)
end
