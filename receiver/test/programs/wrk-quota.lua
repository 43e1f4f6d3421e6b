-- wrk script: each thread stops after exactly QUOTA responses.
-- Usage: wrk -t T -c T -s wrk-quota.lua URL -- QUOTA   (one connection per thread)
--
-- Why the count is exact: without pipelining, a wrk connection writes its next
-- request only after it has read the previous response (response_complete
-- re-arms the writable event). response() runs inside response_complete; at
-- the QUOTA-th response it calls wrk.thread:stop() (aeStop), so the event loop
-- ends after the current pass, and that pass cannot write on this connection:
-- epoll reported it readable only. With one connection per thread, every thread
-- sends exactly QUOTA requests and reads exactly QUOTA responses.
-- wrk's main thread still sleeps for -d: stop it with SIGINT, it then prints
-- "<T * QUOTA> requests in ...".
local quota = 0
local received = 0

function init(args)
  quota = tonumber(args[1]) or error("usage: -- QUOTA")
end

function response(status, headers, body)
  received = received + 1
  if received == quota then
    wrk.thread:stop()
  end
end
