-- Signed webhook POSTs for wrk: each line of the file named by the first script
-- argument is "<X-Spark-Signature>\t<JSON body>"; requests cycle through the lines.
local requests = {}
local next_index = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local signature, body = line:match("^(%x+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/webhooks/webex", {
      ["Content-Type"] = "application/json",
      ["X-Spark-Signature"] = signature,
    }, body)
  end
  file:close()
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
