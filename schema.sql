-- affiliated: the full, current database schema.
--
-- A fresh database is created from this file; an existing one is upgraded step by step by the
-- numbered scripts in migrations/ (see src/store/migrate.rs). PRAGMA user_version holds the version.
--
-- Conventions: times are INTEGER milliseconds since the Unix epoch (UTC); money is INTEGER minor
-- units of the row's currency (cents for USD, yen for JPY); identifiers a merchant chooses
-- (referral codes, offer ids, coupon codes) compare case-insensitively. Every table whose rows
-- leave the server by their integer id (keys, conversions, payouts and runs, the postback and
-- webhook logs and outboxes, webhooks) is AUTOINCREMENT, so an id is never handed out twice,
-- even after the newest rows are deleted (test data, retention). Affiliates and offers are never
-- deleted and ledger entries cannot be, so their ids only grow as they are.

-- Install-wide values, e.g. the hash of the postback token.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- API keys. Only a SHA-256 hash of each key is stored; `prefix` lets an operator tell keys apart.
CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    label      TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE,
    source     TEXT NOT NULL CHECK (source IN ('cli', 'env', 'initial')),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    -- A test key: everything written with it is test data.
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))
);

CREATE TABLE affiliates (
    id            INTEGER PRIMARY KEY,
    referral_code TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT NOT NULL,
    email         TEXT,
    -- Outbound postbacks: a URL template with macros, and the HMAC key that signs each request.
    -- The key must be kept in clear to sign with; it is shown to the merchant once.
    postback_url    TEXT,
    postback_secret TEXT,
    created_at    INTEGER NOT NULL,
    -- A paused affiliate's links still redirect, without a click; their conversions are rejected.
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    -- Where to pay the affiliate: a PayPal e-mail, or free-text bank details (personal data).
    payout_email   TEXT,
    payout_details TEXT,
    -- The Argon2id hash (PHC string) of the affiliate's portal password; NULL until they accept
    -- an invite, and again after a re-invite.
    password_hash TEXT,
    -- E-mail notifications (#24): each approved conversion (opt-in), each payout paid (opt-out).
    mail_conversions INTEGER NOT NULL DEFAULT 0,
    mail_payouts     INTEGER NOT NULL DEFAULT 1,
    -- The terms the affiliate accepted when they applied (--terms-url at the time) and when;
    -- NULL for affiliates the merchant created. Also the first entry of their ledger.
    terms_url TEXT,
    terms_accepted_at INTEGER
);

CREATE TABLE offers (
    id                INTEGER PRIMARY KEY,
    public_id         TEXT NOT NULL UNIQUE COLLATE NOCASE,   -- the `id` the API shows
    name              TEXT NOT NULL,
    landing_url       TEXT NOT NULL,
    commission_type   TEXT NOT NULL CHECK (commission_type IN ('percent', 'flat')),
    -- percent: parts per million of the amount (10% = 100000); flat: minor units of `currency`
    commission_value  INTEGER NOT NULL CHECK (commission_value >= 0),
    attribution       TEXT NOT NULL CHECK (attribution IN ('last_click', 'first_click')),
    click_window_days INTEGER NOT NULL CHECK (click_window_days BETWEEN 1 AND 3650),
    currency          TEXT NOT NULL,
    is_default        INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at        INTEGER NOT NULL,
    -- A paused offer's links still redirect, without a click; its conversions are rejected.
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    -- Customer-attributed conversions more than this many months after the tie earn nothing.
    recurring_months INTEGER CHECK (recurring_months BETWEEN 1 AND 1200),
    -- More conversions than this on one click are flagged `click_reused`.
    max_conversions_per_click INTEGER CHECK (max_conversions_per_click >= 1),
    -- Days after which the sweeper approves pending conversions; NULL: the server's --approve-after.
    approve_after_days INTEGER CHECK (approve_after_days BETWEEN 0 AND 3650),
    -- Hosts deep links (`/r/{code}?url=`) may lead to besides the landing URL's: host names or
    -- `*.name`, separated by single spaces (src/tracking/deep_link.rs).
    allowed_hosts TEXT NOT NULL DEFAULT ''
);
-- At most one default offer; the partial unique index makes a second one impossible.
CREATE UNIQUE INDEX offers_single_default ON offers (is_default) WHERE is_default = 1;

CREATE TABLE coupons (
    code         TEXT PRIMARY KEY COLLATE NOCASE,
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    offer_id     INTEGER REFERENCES offers (id),
    created_at   INTEGER NOT NULL,
    -- A coupon switched off attributes nothing.
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) WITHOUT ROWID;

-- Clicks. The id is the click ID handed to the merchant: a millisecond-time prefix in an
-- order-preserving alphabet followed by 138 random bits, so new rows append to the b-tree.
CREATE TABLE clicks (
    id           TEXT PRIMARY KEY,
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    offer_id     INTEGER NOT NULL REFERENCES offers (id),
    created_at   INTEGER NOT NULL,
    session_id   TEXT,
    landing_url  TEXT,
    referrer     TEXT,
    user_agent   TEXT,
    ip           TEXT,
    source       TEXT,
    sub1         TEXT,
    sub2         TEXT,
    sub3         TEXT,
    sub4         TEXT,
    sub5         TEXT,
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    -- The fraud rules it tripped (`click_flood`), comma-separated; NULL when none.
    flags TEXT,
    -- The ID the caller chose for the click (AFFY's `clickId`), usable wherever the click ID is.
    alias TEXT
) WITHOUT ROWID;
CREATE INDEX clicks_by_session ON clicks (session_id, created_at) WHERE session_id IS NOT NULL;
-- A caller's own click ID is unique per namespace: a test click cannot claim a live one's.
CREATE UNIQUE INDEX clicks_by_alias ON clicks (alias, test) WHERE alias IS NOT NULL;

-- Customers a merchant tied to an affiliate: every later order of theirs earns that affiliate a
-- commission (recurring attribution), even after the original click is gone. Test and live ties
-- are separate namespaces: the same customer_id may be tied once as test data and once live, and
-- a report only ever finds the tie of its own kind (a test key cannot tie a live customer).
CREATE TABLE customers (
    id           INTEGER PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    offer_id     INTEGER NOT NULL REFERENCES offers (id),
    click_id     TEXT REFERENCES clicks (id) ON DELETE SET NULL,
    coupon_code  TEXT,
    email        TEXT,
    name         TEXT,
    created_at   INTEGER NOT NULL,
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    UNIQUE (customer_id, test)
);
CREATE INDEX customers_by_click ON customers (click_id) WHERE click_id IS NOT NULL;
CREATE INDEX customers_by_email ON customers (email COLLATE NOCASE) WHERE email IS NOT NULL;

-- Conversions: one row per merchant order (or lead). external_id is the merchant's order ID and
-- UNIQUE per namespace, (external_id, test): that constraint, checked inside the writing
-- transaction, is what counts an order once. A test order never keeps the real order with the
-- same ID from being recorded. Its value lists are checked by comparisons, not `x IN (...)` (as
-- in ledger_entries below, and in the tables a conversion's transaction writes besides):
-- SQLite builds a temporary b-tree for every list of more than two values each time an insert or
-- update checks it (measured: 4.5 of them per conversion, 15% of its instructions).
CREATE TABLE conversions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id     TEXT NOT NULL,
    type            TEXT NOT NULL,
    affiliate_id    INTEGER NOT NULL REFERENCES affiliates (id),
    offer_id        INTEGER NOT NULL REFERENCES offers (id),
    click_id        TEXT REFERENCES clicks (id) ON DELETE SET NULL,
    customer_id     INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    coupon_code     TEXT,
    attributed_by   TEXT NOT NULL CHECK (attributed_by = 'click' OR attributed_by = 'coupon' OR attributed_by = 'customer'
                                     OR attributed_by = 'session' OR attributed_by = 'affiliate'),
    source          TEXT NOT NULL CHECK (source = 'api' OR source = 'postback' OR source = 'pixel' OR source = 'lead'
                                     OR source = 'admin' OR source = 'stripe' OR source = 'shopify'
                                     OR source = 'woocommerce' OR source = 'paddle' OR source = 'tracking_api'),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    refunded_amount INTEGER NOT NULL DEFAULT 0 CHECK (refunded_amount BETWEEN 0 AND amount),
    -- The commission as first computed; refunds scale it down to `commission`.
    base_commission INTEGER NOT NULL CHECK (base_commission >= 0),
    commission      INTEGER NOT NULL CHECK (commission BETWEEN 0 AND base_commission),
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'approved' OR status = 'rejected'
                                     OR status = 'refunded'),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- Written with a test key (or marked as test): never counts in reports, balances or payouts.
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    -- The fraud rules it tripped, comma-separated; NULL when none. Flagged conversions stay pending.
    flags TEXT,
    -- Which rate priced it.
    rate_source TEXT NOT NULL DEFAULT 'offer'
    CHECK (rate_source = 'offer' OR rate_source = 'affiliate_override' OR rate_source = 'event_type'),
    -- What the reporting network or platform said about it: a TUNE/HasOffers goal, FlexOffers'
    -- country and commission ID.
    goal TEXT,
    geo TEXT,
    commission_id TEXT,
    UNIQUE (external_id, test)
);
CREATE INDEX conversions_by_click ON conversions (click_id) WHERE click_id IS NOT NULL;
CREATE INDEX conversions_by_customer ON conversions (customer_id) WHERE customer_id IS NOT NULL;
-- Lists (API and admin) go newest first by time, filtered by status or affiliate; these serve
-- every combination from an index in order (keyset pagination on (created_at, id)), with no sort.
CREATE INDEX conversions_by_time ON conversions (created_at);
CREATE INDEX conversions_by_status_time ON conversions (status, created_at);
CREATE INDEX conversions_by_affiliate_time ON conversions (affiliate_id, created_at);

-- An offer's rate per conversion type (`sale`, `lead`, ...). When an offer has any, a type it
-- does not list earns nothing.
CREATE TABLE offer_event_rates (
    offer_id         INTEGER NOT NULL REFERENCES offers (id),
    event_type       TEXT NOT NULL,
    commission_type  TEXT NOT NULL CHECK (commission_type IN ('percent', 'flat')),
    commission_value INTEGER NOT NULL CHECK (commission_value >= 0),
    PRIMARY KEY (offer_id, event_type)
) WITHOUT ROWID;

-- A special rate for one affiliate on one offer, for every type (`*`) or per type.
CREATE TABLE affiliate_rates (
    offer_id         INTEGER NOT NULL REFERENCES offers (id),
    affiliate_id     INTEGER NOT NULL REFERENCES affiliates (id),
    event_type       TEXT NOT NULL,
    commission_type  TEXT NOT NULL CHECK (commission_type IN ('percent', 'flat')),
    commission_value INTEGER NOT NULL CHECK (commission_value >= 0),
    PRIMARY KEY (offer_id, affiliate_id, event_type)
) WITHOUT ROWID;

-- Every change of a conversion: who did what, when, and what it did to the money.
CREATE TABLE conversion_events (
    id               INTEGER PRIMARY KEY,
    conversion_id    INTEGER NOT NULL REFERENCES conversions (id),
    at               INTEGER NOT NULL,
    actor            TEXT NOT NULL,
    action           TEXT NOT NULL,
    from_status      TEXT,
    to_status        TEXT NOT NULL,
    amount_delta     INTEGER NOT NULL DEFAULT 0,
    commission_delta INTEGER NOT NULL DEFAULT 0,
    reason           TEXT,
    -- The shop's own ID of a refund: a repeated partial refund is recognised by it and refunds once.
    refund_id        TEXT
);
CREATE INDEX conversion_events_by_conversion ON conversion_events (conversion_id, id);
CREATE UNIQUE INDEX conversion_events_by_refund ON conversion_events (conversion_id, refund_id)
    WHERE refund_id IS NOT NULL;

-- Clicks per day, affiliate and offer. Kept when clicks themselves are swept or erased, so
-- reports over old periods stay true. Counted by a trigger, so that recording a click is one
-- statement (the writer runs it without a savepoint).
CREATE TABLE daily_clicks (
    day          INTEGER NOT NULL,   -- days since 1970-01-01 (UTC)
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    offer_id     INTEGER NOT NULL REFERENCES offers (id),
    clicks       INTEGER NOT NULL,
    -- How many of those clicks led to a conversion that counts (through the click, not rejected,
    -- not test: tracking::rate), kept by store::reports::count_change in the transaction of every
    -- conversion change. The conversion rate is converted / clicks, so never above 100%.
    converted    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, affiliate_id, offer_id)
) WITHOUT ROWID;
CREATE TRIGGER clicks_count_daily AFTER INSERT ON clicks WHEN NEW.test = 0 BEGIN
    INSERT INTO daily_clicks (day, affiliate_id, offer_id, clicks)
    VALUES (NEW.created_at / 86400000, NEW.affiliate_id, NEW.offer_id, 1)
    ON CONFLICT (day, affiliate_id, offer_id) DO UPDATE SET clicks = clicks + 1;
END;

-- Conversions per day (of created_at), affiliate, current status and currency, with their net
-- revenue (amount minus refunds) and current commission. Kept in the same transaction as every
-- change of a conversion (store::reports::count_change), so the admin's overview reads a few
-- thousand rows instead of scanning every conversion of the period.
CREATE TABLE daily_conversions (
    day          INTEGER NOT NULL,   -- days since 1970-01-01 (UTC)
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    status       TEXT NOT NULL,
    currency     TEXT NOT NULL,
    conversions  INTEGER NOT NULL,
    revenue      INTEGER NOT NULL,
    commission   INTEGER NOT NULL,
    PRIMARY KEY (day, affiliate_id, status, currency)
) WITHOUT ROWID;

-- Payout runs: one row per `POST /api/v1/payouts` (or the admin's form). `run_id` is the
-- caller's optional idempotency key: the same key again answers with the same run. A run is
-- built in small writer jobs (store::payout_runs): `building` until its last affiliate is done,
-- then `complete`; one interrupted by a crash stays `building` until its run_id is sent again.
CREATE TABLE payout_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT UNIQUE,
    currency     TEXT NOT NULL,
    minimum      INTEGER NOT NULL CHECK (minimum >= 0),   -- minor units of `currency`
    created_at   INTEGER NOT NULL,
    status       TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('building', 'complete')),
    completed_at INTEGER
);

-- Payouts: what an affiliate is paid in one transfer, holding exactly the ledger entries it covers
-- (payout_items). Only `status`, `reference` and the times ever change once it is built. While
-- `building` is 1 its items are being held in slices (`held` is their sum so far); it is
-- invisible until the last slice sets `amount` to `held`, clears `building` and books it.
CREATE TABLE payouts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run          INTEGER NOT NULL REFERENCES payout_runs (id),
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    currency     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled')),
    reference    TEXT,
    created_at   INTEGER NOT NULL,
    paid_at      INTEGER,
    cancelled_at INTEGER,
    building     INTEGER NOT NULL DEFAULT 0 CHECK (building IN (0, 1)),
    held         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX payouts_by_run ON payouts (run, id);
CREATE UNIQUE INDEX payouts_one_per_affiliate_in_a_run ON payouts (run, affiliate_id);
CREATE INDEX payouts_by_affiliate ON payouts (affiliate_id, id);
CREATE INDEX payouts_by_status ON payouts (status, id);

-- The affiliate ledger: every change to what an affiliate is owed, append-only, one hash chain
-- per affiliate (`seq` 1, 2, 3, ...; hash = SHA-256(prev_hash || canonical bytes), see
-- src/tracking/ledger.rs and docs/statements.md). `amount` is signed minor units of `currency`;
-- what each kind does to the balances is `tracking::ledger::Kind::effect`. The order ID is only
-- here as a salted hash; the salt and the readable ID live in `ledger_orders`. The kinds are
-- checked by comparisons, not `kind IN (...)`: for a list of more than two values SQLite builds a
-- temporary b-tree on every insert (a quarter of an append's instructions). A `terms_accepted`
-- entry moves no money (amount 0, currency XXX, `tracking::ledger::Record`): it records the
-- terms an affiliate accepted, their URL in `terms_url` and its SHA-256 in `order_hash`, so the
-- chain covers them.
CREATE TABLE ledger_entries (
    id            INTEGER PRIMARY KEY,
    affiliate_id  INTEGER NOT NULL REFERENCES affiliates (id),
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    kind          TEXT NOT NULL CHECK (kind = 'created' OR kind = 'approved' OR kind = 'rejected' OR kind = 'refunded'
                                       OR kind = 'clawed_back' OR kind = 'replaced' OR kind = 'replaced_approved'
                                       OR kind = 'payout' OR kind = 'paid' OR kind = 'payout_cancelled'
                                       OR kind = 'terms_accepted'),
    conversion_id INTEGER REFERENCES conversions (id),
    payout_id     INTEGER REFERENCES payouts (id),
    currency      TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    order_hash    BLOB,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL,
    terms_url     TEXT,
    UNIQUE (affiliate_id, seq),
    CHECK (CASE WHEN kind = 'terms_accepted'
                THEN conversion_id IS NULL AND payout_id IS NULL AND amount = 0 AND terms_url IS NOT NULL
                ELSE (conversion_id IS NULL) != (payout_id IS NULL) AND terms_url IS NULL END)
);
CREATE INDEX ledger_entries_by_conversion ON ledger_entries (conversion_id) WHERE conversion_id IS NOT NULL;
CREATE INDEX ledger_entries_by_time ON ledger_entries (at);
-- Entries are never changed or removed, by anything (erasure does not need to: they hold no
-- personal data).
CREATE TRIGGER ledger_entries_are_never_updated BEFORE UPDATE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
CREATE TRIGGER ledger_entries_are_never_deleted BEFORE DELETE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;

-- What each affiliate is owed, per currency: a rollup of `ledger_entries` kept by
-- store::ledger::append in the transaction of every entry (the four balances, the number of
-- entries and the last of them; the chain's head is the affiliate's row with the highest seq),
-- so a balance costs the same whatever the number of entries. `affiliated check` compares it
-- with the entries (store::ledger::rollup::mismatches). Records that move no money
-- (`terms_accepted`) have the row of currency XXX, its balances 0, so they count in the head.
CREATE TABLE ledger_balances (
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    currency     TEXT NOT NULL,
    pending      INTEGER NOT NULL,
    available    INTEGER NOT NULL,
    in_payouts   INTEGER NOT NULL,
    paid         INTEGER NOT NULL,
    entries      INTEGER NOT NULL CHECK (entries >= 1),
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    hash         BLOB NOT NULL,
    PRIMARY KEY (affiliate_id, currency)
) WITHOUT ROWID;
CREATE TRIGGER ledger_balances_are_never_deleted BEFORE DELETE ON ledger_balances BEGIN
    SELECT RAISE(ABORT, 'ledger balances follow the append-only ledger');
END;

-- Which ledger entries each payout holds. An entry is in at most one payout that is not
-- cancelled: the partial unique index decides, inside the transaction that creates the payout.
-- Cancelling a payout sets `live` to 0 on its items, which frees its entries for the next one.
CREATE TABLE payout_items (
    payout_id INTEGER NOT NULL REFERENCES payouts (id),
    entry_id  INTEGER NOT NULL REFERENCES ledger_entries (id),
    live      INTEGER NOT NULL DEFAULT 1 CHECK (live IN (0, 1)),
    PRIMARY KEY (payout_id, entry_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX payout_items_one_live_payout ON payout_items (entry_id) WHERE live = 1;

-- The salt and readable order ID behind each conversion's `order_hash` in the ledger. Erasing
-- a customer deletes their rows here: the ledger keeps its hashes, which then tie to no order.
CREATE TABLE ledger_orders (
    conversion_id INTEGER PRIMARY KEY REFERENCES conversions (id),
    salt          BLOB NOT NULL,
    order_id      TEXT NOT NULL
);

-- Inbound postbacks as received (the token is never stored), for the merchant to inspect.
CREATE TABLE postbacks_received (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at   INTEGER NOT NULL,
    dialect       TEXT NOT NULL,
    method        TEXT NOT NULL,
    params        TEXT NOT NULL,        -- JSON object of the parameters, minus the token
    status        INTEGER NOT NULL,     -- the HTTP status answered
    outcome       TEXT NOT NULL CHECK (outcome = 'created' OR outcome = 'duplicate' OR outcome = 'rejected'
                                   OR outcome = 'failed'),
    error_code    TEXT,
    conversion_id INTEGER REFERENCES conversions (id)
);
CREATE INDEX postbacks_received_by_time ON postbacks_received (received_at);

-- Outbound postbacks to affiliates' trackers (an outbox). Rows are written in the transaction
-- that changes the conversion; a background thread delivers them with retries.
CREATE TABLE postback_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    affiliate_id    INTEGER NOT NULL REFERENCES affiliates (id),
    conversion_id   INTEGER REFERENCES conversions (id),
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,      -- the template with every macro filled in
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    -- About test data: sent with the {test} macro 1 and an X-Affiliated-Test header.
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))
);
CREATE INDEX postback_deliveries_due ON postback_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX postback_deliveries_by_status ON postback_deliveries (status, id);

-- Erasures done through the API, by SHA-256 of the erased identifier (never the identifier).
-- The authoritative copy is a log file beside the database, which survives restoring an older
-- backup; this table records which of its entries this database has applied.
CREATE TABLE erasures (
    hash       TEXT PRIMARY KEY,        -- hex SHA-256 of "customer:<id>", "click:<id>", "affiliate:<code>", "application:<id>"
    kind       TEXT NOT NULL CHECK (kind IN ('customer', 'click', 'affiliate', 'application')),
    applied_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Logged-in browsers. Only the SHA-256 of a session's cookie token is stored. A session is
-- valid until `expires_at`, unless `ended_at` is set first (logout, a changed admin token, and
-- later a re-invited or paused affiliate). The retention sweep deletes expired and ended rows.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    principal    TEXT NOT NULL CHECK (principal IN ('admin', 'affiliate')),
    affiliate_id INTEGER REFERENCES affiliates (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,        -- what this session's forms must post back
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    CHECK ((principal = 'affiliate') = (affiliate_id IS NOT NULL))
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_affiliate ON sessions (affiliate_id) WHERE affiliate_id IS NOT NULL;

-- Signing secrets of the shop connectors, when set at run time (PUT /api/v1/connectors/{name});
-- secrets from the environment or flags are never stored. A webhook's HMAC can only be checked
-- with the secret itself, so it is kept in clear (like affiliates' postback secrets), never
-- logged and never returned.
CREATE TABLE connector_secrets (
    connector  TEXT PRIMARY KEY CHECK (connector IN ('stripe', 'shopify', 'woocommerce', 'paddle')),
    secret     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Webhooks received from shop platforms with a valid signature: one row per thing a hook did (a
-- conversion, a refund, a customer tie, or nothing), written in the transaction that did it.
-- Identifiers and outcomes only, never the body: it holds customers' names, e-mails, addresses.
CREATE TABLE hooks_received (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at   INTEGER NOT NULL,
    connector     TEXT NOT NULL,
    event_id      TEXT,                 -- the platform's event or delivery ID
    event_type    TEXT NOT NULL,        -- e.g. checkout.session.completed, orders/paid
    test          INTEGER CHECK (test IN (0, 1)),   -- the platform's test-mode flag, where it has one
    action        TEXT NOT NULL CHECK (action IN ('conversion', 'refund', 'tie', 'none')),
    reference     TEXT,                 -- the platform's ID of what was acted on (order, payment, refund)
    outcome       TEXT NOT NULL CHECK (outcome IN ('created', 'duplicate', 'refunded', 'tied', 'held', 'expired',
                                                   'ignored', 'unattributed', 'rejected')),
    error_code    TEXT,
    detail        TEXT,                 -- why it was ignored, held or expired, in our words
    replayed      INTEGER NOT NULL DEFAULT 0 CHECK (replayed IN (0, 1)),   -- a held event, recorded later
    conversion_id INTEGER REFERENCES conversions (id)
);
CREATE INDEX hooks_received_by_time ON hooks_received (received_at);
CREATE INDEX hooks_received_by_connector ON hooks_received (connector, id);

-- Hook events that came before what they need: a Stripe invoice before the checkout that ties its
-- customer, a refund before its order. Replayed in the transaction that brings what they wait
-- for; after 24 hours the sweeper logs them as expired and deletes them. `action` is the mapped
-- event as JSON (identifiers and amounts, no personal data).
CREATE TABLE hooks_held (
    id         INTEGER PRIMARY KEY,
    connector  TEXT NOT NULL,
    waits_for  TEXT NOT NULL CHECK (waits_for IN ('customer', 'order')),
    awaited    TEXT NOT NULL,           -- the customer ID (namespaced) or the order's external_id
    reference  TEXT NOT NULL,           -- the platform's ID of the held object (invoice, refund)
    event_id   TEXT,
    event_type TEXT NOT NULL,
    test       INTEGER CHECK (test IN (0, 1)),
    action     TEXT NOT NULL,
    held_at    INTEGER NOT NULL,
    UNIQUE (connector, waits_for, awaited, reference)
);
CREATE INDEX hooks_held_by_time ON hooks_held (held_at);

-- Merchant webhooks: endpoints of the merchant's own systems (CRM, chat, accounting) and the
-- events each one wants. The key signs every delivery (Standard Webhooks), so it is kept in
-- clear: 32 random bytes, shown to the merchant once as `whsec_` + base64. A deleted webhook
-- keeps its row, for its deliveries to point at, but not its key.
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,       -- the event types it subscribes to, comma-separated
    secret     BLOB,                -- NULL once deleted
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    CHECK ((deleted_at IS NULL) = (secret IS NOT NULL))
);
-- One live webhook per URL: a retried POST cannot make every event arrive twice.
CREATE UNIQUE INDEX webhooks_by_url ON webhooks (url) WHERE deleted_at IS NULL;

-- Webhook events to deliver (an outbox, like postback_deliveries). The payload is rendered in
-- the transaction of the change it reports and sent byte for byte, signed at each attempt.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id),
    message_id      TEXT NOT NULL,      -- `webhook-id`: random, the same on every attempt
    event           TEXT NOT NULL,
    -- The conversion the payload shows (erasure finds the payloads to redact by it).
    conversion_id   INTEGER REFERENCES conversions (id),
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_conversion ON webhook_deliveries (conversion_id) WHERE conversion_id IS NOT NULL;

-- Invites to the affiliate portal. Only the SHA-256 of the link's 256-bit random token is stored.
-- An invite is usable once, before `expires_at`, unless a newer invite revoked it; accepting it
-- sets `used_at` with a conditional UPDATE in the transaction that sets the password, so of two
-- submissions of one link exactly one wins.
CREATE TABLE portal_invites (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked_at   INTEGER,
    CHECK (used_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX portal_invites_by_affiliate ON portal_invites (affiliate_id);

-- The e-mails the server sends (#24), queued in the transaction of the action that causes them
-- and sent by the mail lane (src/outbox/mail.rs). The body (and the unsubscribe link of a
-- notification) is kept only while the message is pending: links in it carry tokens, so once
-- it is sent, given up or expired only the subject, recipient and status stay. A message not
-- sent by `expires_at` (its link's lifetime) never is. `unsubscribe_hash` is the SHA-256 of the
-- token of a notification's unsubscribe link; it outlives the body so the link keeps working.
-- Erasure of an affiliate empties `recipient` and puts a subject that names no one.
CREATE TABLE emails (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,
    affiliate_id     INTEGER REFERENCES affiliates (id),
    recipient        TEXT,
    subject          TEXT NOT NULL,
    message_id       TEXT NOT NULL UNIQUE,
    body_text        TEXT,
    body_html        TEXT,
    unsubscribe_url  TEXT,
    unsubscribe_hash BLOB UNIQUE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'expired')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    expires_at       INTEGER NOT NULL,
    CHECK (status = 'pending' OR (body_text IS NULL AND body_html IS NULL AND unsubscribe_url IS NULL))
);
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE status = 'pending';
CREATE INDEX emails_by_affiliate ON emails (affiliate_id) WHERE affiliate_id IS NOT NULL;

-- Password-reset links of the portal (#24): like invites, only the SHA-256 of the token is
-- stored; a link works once, for an hour, and only the newest one; using it is a conditional
-- UPDATE in the transaction that sets the password and ends the affiliate's sessions.
-- Asking for one changes nothing else: the password stays until the link is used.
CREATE TABLE password_resets (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked_at   INTEGER,
    CHECK (used_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX password_resets_by_affiliate ON password_resets (affiliate_id);

-- Applications to join the program (/portal/apply, --signup review|open): what a would-be
-- affiliate sent and the merchant's decision. `name`, `email`, `website` and `payout_email` are
-- personal data: an erasure (of the application, or of the affiliate its approval made) sets
-- them to NULL and `erased_at`; the retention sweep deletes rejected applications. One pending
-- application per e-mail address, in any letter case: the partial UNIQUE index decides, in the
-- transaction that stores it. `referral_code` is the code the applicant wished for; the
-- affiliate's own may differ (the merchant may choose another on approval).
CREATE TABLE applications (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT,
    email             TEXT,
    website           TEXT,
    referral_code     TEXT NOT NULL,
    payout_email      TEXT,
    terms_url         TEXT,                 -- the terms they accepted (--terms-url when they applied)
    terms_accepted_at INTEGER,
    status            TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at        INTEGER NOT NULL,
    decided_at        INTEGER,
    reason            TEXT,                 -- why it was rejected, as the merchant wrote it
    affiliate_id      INTEGER REFERENCES affiliates (id),   -- the affiliate its approval made
    erased_at         INTEGER,
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK ((status = 'approved') = (affiliate_id IS NOT NULL)),
    CHECK ((terms_url IS NULL) = (terms_accepted_at IS NULL)),
    CHECK (erased_at IS NOT NULL OR (name IS NOT NULL AND email IS NOT NULL AND website IS NOT NULL))
);
CREATE UNIQUE INDEX applications_one_pending_per_email ON applications (email COLLATE NOCASE) WHERE status = 'pending';
CREATE INDEX applications_by_status ON applications (status, id);
CREATE INDEX applications_by_affiliate ON applications (affiliate_id) WHERE affiliate_id IS NOT NULL;
