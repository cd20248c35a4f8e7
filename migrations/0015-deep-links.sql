-- Schema version 15 (issue #24, deep links).
-- `GET /r/{code}?url=URL` may send a visitor to any page of the shop. The page's host must be the offer's landing URL's host or one of the
-- offer's `allowed_hosts`: host names (`blog.shop.example`) or a leading wildcard
-- (`*.shop.example`), lower-cased, separated by single spaces (src/tracking/deep_link.rs).
-- Existing offers allow none besides their landing URL's host.
ALTER TABLE offers ADD COLUMN allowed_hosts TEXT NOT NULL DEFAULT '';
