-- wrk script: HTTP/1.1 pipelining as TechEmpower's plaintext test does it. init builds one string
-- of DEPTH copies of the request (wrk.format(): GET of the URL's path) and request() returns it, so
-- each write carries DEPTH requests and wrk reads DEPTH responses before the next write. wrk counts
-- every response as a request; latency is per response, from the write of its batch.
-- DEPTH: env PIPELINE_DEPTH, default 16.
init = function(args)
  local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "") or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
