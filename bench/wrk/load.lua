-- One wrk script for every workload of bench/run.
--
--   wrk ... -s bench/wrk/load.lua URL -- MODE RUN_LABEL
--
-- MODE is redirect, click, conversion, conversion-dup (10% of external_ids repeated) or mix
-- (80% redirects, 15% clicks, 5% conversions), or notfound (the redirect requests under a path no
-- route matches, for bench/ceiling). RUN_LABEL makes external_ids unique across runs.
-- The environment variable BENCH_SETUP names a Lua file written by bench/run that returns the
-- API key and what setup created: referral codes, offer ids, coupon codes and click IDs.
--
-- Every thread counts what it sent per kind (in request()) and every answer per kind and status
-- (in response()); done() adds the threads up and prints one `RESULT key=value ...` line that
-- bench/run parses. "sent - answered" is the number of requests still in flight when wrk
-- stopped: the server may store those, but nobody was told, so they bound the allowed surplus
-- of stored rows over acknowledged ones.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

-- Browsers and bots as seen in ordinary access logs. Written without quotes or backslashes so
-- they can go into JSON as they are.
local agents = {
   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
   "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
   "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
   "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
   "Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
   "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
   "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36",
   "Mozilla/5.0 (Linux; Android 12; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
   "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
   "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1",
   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 327.0.0.24.97",
   "Mozilla/5.0 (Linux; Android 14; SM-A546B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/123.0.6312.118 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/458.0.0.46.108;]",
   "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
   "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
   "Twitterbot/1.0",
   "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
   "curl/8.5.0",
}

local referers = {
   "https://www.google.com/",
   "https://www.bing.com/search?q=best+running+shoes+2026",
   "https://duckduckgo.com/",
   "https://t.co/x8Kq2LmZpR",
   "https://www.facebook.com/",
   "https://l.instagram.com/",
   "https://www.reddit.com/r/running/comments/1c9x2k/which_shoes_for_a_first_marathon/",
   "https://news.ycombinator.com/item?id=40111234",
   "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
   "https://blog.trailnotes.example/reviews/2026/lightweight-trail-shoes",
   "https://deals.coupon-hub.example/store/shop-example?ref=sidebar",
   "https://newsletter.example.net/issues/142",
}

local campaigns = { "spring_sale", "newsletter", "yt_review", "ig_story", "blog_sidebar", "retarget_7d", "brand" }

local cfg, mode, label
local counter, recent, recent_len
-- `tid` is set by setup() through thread:set; sent, answered, counts and statuses are read by
-- done() through thread:get. Both only reach globals, so these stay global.

function init(args)
   mode = args[1] or "redirect"
   label = args[2] or "run"
   tid = tid or 1
   cfg = dofile(os.getenv("BENCH_SETUP"))
   math.randomseed(tid * 7919 + os.time())
   sent = { redirect = 0, click = 0, conversion = 0 }
   answered = 0
   -- Answers by kind, read from the answer itself (wrk does not say which request it answers).
   counts = { redirect_click = 0, redirect_noclick = 0, click_201 = 0, conversion_201 = 0, conversion_409 = 0 }
   statuses = {}
   counter = 0
   recent = {}
   recent_len = 0
end

local function pick(list)
   return list[math.random(#list)]
end

-- `prefix` (bench/ceiling's `notfound` mode) makes the same request miss every route.
local function redirect_request(prefix)
   local path = (prefix or "") .. "/r/" .. pick(cfg.codes)
   local r = math.random(10)
   if r <= 5 then
      path = path .. "?sub1=" .. pick(campaigns) .. "&sub2=" .. math.random(1, 400)
   elseif r <= 7 then
      path = path .. "?offer=" .. pick(cfg.offers) .. "&sub1=" .. pick(campaigns)
   end
   local headers = { ["User-Agent"] = pick(agents), ["Accept-Language"] = "en-US,en;q=0.9" }
   if math.random(10) <= 8 then
      headers["Referer"] = pick(referers)
   end
   return wrk.format("GET", path, headers)
end

local function api_headers()
   return { ["X-Api-Key"] = cfg.key, ["Content-Type"] = "application/json", ["User-Agent"] = "shop-backend/2.3" }
end

local function click_request()
   counter = counter + 1
   local body = string.format(
      '{"referral_code":"%s","session_id":"%s-%d-%d","user_agent":"%s","ip":"%d.%d.%d.%d"}',
      pick(cfg.codes), label, tid, counter, pick(agents),
      math.random(1, 223), math.random(0, 255), math.random(0, 255), math.random(1, 254))
   return wrk.format("POST", "/api/v1/clicks", api_headers(), body)
end

local function conversion_request(duplicates)
   local external_id
   if duplicates and recent_len > 0 and math.random(10) == 1 then
      external_id = recent[math.random(recent_len)]
   else
      counter = counter + 1
      external_id = string.format("%s-%d-%d", label, tid, counter)
      if recent_len < 1024 then
         recent_len = recent_len + 1
         recent[recent_len] = external_id
      else
         recent[math.random(1024)] = external_id
      end
   end
   local amount = string.format("%d.%02d", math.random(5, 400), math.random(0, 99))
   local key
   if counter % 2 == 0 or #cfg.clicks == 0 then
      key = string.format('"coupon":"%s"', pick(cfg.coupons))
   else
      key = string.format('"click_id":"%s"', pick(cfg.clicks))
   end
   local body = string.format('{"external_id":"%s","amount":"%s",%s}', external_id, amount, key)
   return wrk.format("POST", "/api/v1/conversions", api_headers(), body)
end

function request()
   local kind = mode
   if mode == "mix" then
      local r = math.random(100)
      if r <= 80 then
         kind = "redirect"
      elseif r <= 95 then
         kind = "click"
      else
         kind = "conversion"
      end
   end
   if kind == "redirect" then
      sent.redirect = sent.redirect + 1
      return redirect_request()
   elseif kind == "notfound" then
      sent.redirect = sent.redirect + 1
      return redirect_request("/nothing")
   elseif kind == "click" then
      sent.click = sent.click + 1
      return click_request()
   else
      sent.conversion = sent.conversion + 1
      return conversion_request(mode == "conversion-dup")
   end
end

function response(status, headers, body)
   answered = answered + 1
   statuses[status] = (statuses[status] or 0) + 1
   if status >= 300 and status < 400 then
      local location = headers["Location"] or headers["location"] or ""
      if location:find("click_id=[^&#]") then
         counts.redirect_click = counts.redirect_click + 1
      else
         counts.redirect_noclick = counts.redirect_noclick + 1
      end
   elseif status == 201 then
      if body:find('"external_id"', 1, true) then
         counts.conversion_201 = counts.conversion_201 + 1
      else
         counts.click_201 = counts.click_201 + 1
      end
   elseif status == 409 then
      counts.conversion_409 = counts.conversion_409 + 1
   end
end

function done(summary, latency, requests)
   local total = { sent_redirect = 0, sent_click = 0, sent_conversion = 0, answered = 0 }
   local all_statuses = {}
   for _, thread in ipairs(threads) do
      local s = thread:get("sent")
      total.sent_redirect = total.sent_redirect + s.redirect
      total.sent_click = total.sent_click + s.click
      total.sent_conversion = total.sent_conversion + s.conversion
      total.answered = total.answered + thread:get("answered")
      for k, v in pairs(thread:get("counts")) do
         total[k] = (total[k] or 0) + v
      end
      for k, v in pairs(thread:get("statuses")) do
         all_statuses[k] = (all_statuses[k] or 0) + v
      end
   end
   local status_text = {}
   for k, v in pairs(all_statuses) do
      table.insert(status_text, k .. ":" .. v)
   end
   table.sort(status_text)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
      "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d ",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, e.connect, e.read, e.write, e.status, e.timeout))
   local keys = {}
   for k in pairs(total) do
      table.insert(keys, k)
   end
   table.sort(keys)
   for _, k in ipairs(keys) do
      io.write(string.format("%s=%d ", k, total[k]))
   end
   io.write("statuses=" .. table.concat(status_text, ",") .. "\n")
end
