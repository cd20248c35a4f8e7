-- Schema version 12 (issue #22, the conversion rate). The overview's conversion rate divided every conversion by clicks, coupon and customer
-- conversions too (150%, 300%). It becomes the share of a day's clicks that led to a conversion:
-- `daily_clicks.converted` counts the clicks (by the day they were made) that at least one
-- conversion came through (attributed by the click or its session), not rejected and not test
-- data (src/tracking/rate.rs). store::reports::count_change keeps it from now on; this fills it
-- from the conversions on record.
ALTER TABLE daily_clicks ADD COLUMN converted INTEGER NOT NULL DEFAULT 0;

WITH converted (day, affiliate_id, offer_id, clicks) AS (
    SELECT k.created_at / 86400000, k.affiliate_id, k.offer_id, count(*)
    FROM clicks k
    WHERE k.test = 0
      AND EXISTS (SELECT 1 FROM conversions v
                  WHERE v.click_id = k.id AND v.test = 0 AND v.status != 'rejected'
                    AND v.attributed_by IN ('click', 'session'))
    GROUP BY 1, 2, 3
)
UPDATE daily_clicks SET converted = min(converted.clicks, daily_clicks.clicks)
FROM converted
WHERE daily_clicks.day = converted.day AND daily_clicks.affiliate_id = converted.affiliate_id
  AND daily_clicks.offer_id = converted.offer_id;
