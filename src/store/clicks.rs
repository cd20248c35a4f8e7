//! Clicks: one row per visitor arriving through an affiliate, keyed by the click ID.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::attribution::Model;
use crate::tracking::click_id;
use crate::tracking::fraud::Flag;

/// A click as recorded; the affiliate and offer are already resolved.
#[derive(Clone, Debug, Default)]
pub struct NewClick {
    pub affiliate_id: i64,
    pub offer_id: i64,
    pub session_id: Option<String>,
    pub landing_url: Option<String>,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub source: Option<String>,
    pub subs: [Option<String>; 5],
    /// Test data: not counted in the daily totals, its conversions are test data too.
    pub test: bool,
    /// The fraud rules it trips (`click_flood`).
    pub flags: Vec<Flag>,
    /// The ID the caller chose for it (AFFY's `clickId`), usable wherever the click ID is.
    pub alias: Option<String>,
}

/// A click as the API shows it.
#[derive(Clone, Debug)]
pub struct Click {
    pub id: String,
    pub referral_code: String,
    pub offer: String,
    pub created_at: i64,
    pub session_id: Option<String>,
    pub landing_url: Option<String>,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub source: Option<String>,
    pub subs: [Option<String>; 5],
    pub test: bool,
    pub flags: Vec<Flag>,
}

/// What attribution needs to know about a click.
#[derive(Clone, Debug)]
pub struct AttributableClick {
    pub id: String,
    pub affiliate_id: i64,
    pub offer_id: i64,
    pub created_at: i64,
    pub window_days: i64,
    pub model: Model,
    pub test: bool,
    /// The fraud rules the click tripped (`click_flood`).
    pub flags: Vec<Flag>,
    /// The ID its caller chose for it, if any.
    pub alias: Option<String>,
}

/// A fresh click ID for a click made at `now`, with 138 bits from the thread's CSPRNG
/// (ChaCha, seeded and periodically reseeded from the operating system).
pub fn new_id(now: i64) -> String {
    let mut random = [0u8; click_id::RANDOM_BYTES];
    rand::fill(&mut random);
    click_id::encode(now.max(0) as u64, &random)
}

/// Records a click under `id` (from [`new_id`]); the daily totals follow by trigger. One
/// statement, so the writer may run it without a savepoint (`Writer::run_single`). A caller's
/// own ID (`alias`) that another click of the same namespace (test data or live) has is refused
/// by its UNIQUE index: 409 `duplicate_click_id`.
pub fn insert(conn: &Tx, id: &str, click: &NewClick, now: i64) -> Result<(), Error> {
    let [s1, s2, s3, s4, s5] = &click.subs;
    conn.prepare_cached(
        "INSERT INTO clicks (id, affiliate_id, offer_id, created_at, session_id, landing_url, referrer,
                             user_agent, ip, source, sub1, sub2, sub3, sub4, sub5, test, flags, alias)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?
    .execute(params![
        id,
        click.affiliate_id,
        click.offer_id,
        now,
        click.session_id,
        click.landing_url,
        click.referrer,
        click.user_agent,
        click.ip,
        click.source,
        s1,
        s2,
        s3,
        s4,
        s5,
        click.test,
        Flag::join(&click.flags),
        click.alias
    ])
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            Error::conflict("duplicate_click_id", "a click with this clickId exists already; choose another one")
        } else {
            e.into()
        }
    })?;
    // The trigger clicks_count_daily adds it to daily_clicks within the same statement.
    Ok(())
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Click> {
    Ok(Click {
        id: r.get(0)?,
        referral_code: r.get(1)?,
        offer: r.get(2)?,
        created_at: r.get(3)?,
        session_id: r.get(4)?,
        landing_url: r.get(5)?,
        referrer: r.get(6)?,
        user_agent: r.get(7)?,
        ip: r.get(8)?,
        source: r.get(9)?,
        subs: [r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?],
        test: r.get(15)?,
        flags: Flag::split(r.get::<_, Option<String>>(16)?.as_deref()).unwrap_or_default(),
    })
}

/// A click by its ID, or by the ID its caller chose for it, in namespace `test` (test data or
/// live) or, with `None`, in either (a caller's ID that is both: the live click).
pub fn get(conn: &Connection, id: &str, test: Option<bool>) -> Result<Option<Click>, Error> {
    let select = |column: &str| -> Result<Option<Click>, Error> {
        Ok(conn
            .prepare_cached(&format!(
                "SELECT c.id, a.referral_code, o.public_id, c.created_at, c.session_id, c.landing_url,
                        c.referrer, c.user_agent, c.ip, c.source, c.sub1, c.sub2, c.sub3, c.sub4, c.sub5, c.test,
                        c.flags
                 FROM clicks c JOIN affiliates a ON a.id = c.affiliate_id JOIN offers o ON o.id = c.offer_id
                 WHERE c.{column} = ?1 AND (?2 IS NULL OR c.test = ?2) ORDER BY c.test LIMIT 1"
            ))?
            .query_row(params![id, test], from_row)
            .optional()?)
    };
    by_id_or_alias(id, || select("id"), || select("alias"))
}

/// Looks a click up by its own ID when `id` has that shape, else (or when there is none) by the
/// ID a caller chose for it.
fn by_id_or_alias<T>(
    id: &str,
    by_id: impl FnOnce() -> Result<Option<T>, Error>,
    by_alias: impl FnOnce() -> Result<Option<T>, Error>,
) -> Result<Option<T>, Error> {
    if click_id::is_well_formed(id)
        && let Some(found) = by_id()?
    {
        return Ok(Some(found));
    }
    if !alias_shaped(id) {
        return Ok(None);
    }
    by_alias()
}

/// Whether `text` could be a caller's own click ID: 8 to 128 URL-safe characters (`A-Z a-z 0-9
/// - _ . ~`).
pub fn alias_shaped(text: &str) -> bool {
    (8..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

const ATTRIBUTABLE: &str = "SELECT c.id, c.affiliate_id, c.offer_id, c.created_at, o.click_window_days, o.attribution,
                                   c.test, c.flags, c.alias
                            FROM clicks c JOIN offers o ON o.id = c.offer_id";

fn attributable_from_row(r: &Row<'_>) -> rusqlite::Result<AttributableClick> {
    let model: String = r.get(5)?;
    Ok(AttributableClick {
        id: r.get(0)?,
        affiliate_id: r.get(1)?,
        offer_id: r.get(2)?,
        created_at: r.get(3)?,
        window_days: r.get(4)?,
        model: Model::parse(&model).unwrap_or(Model::LastClick),
        test: r.get(6)?,
        flags: Flag::split(r.get::<_, Option<String>>(7)?.as_deref()).unwrap_or_default(),
        alias: r.get(8)?,
    })
}

/// The click a report in namespace `test` names: by its own ID in either namespace (an
/// unguessable ID is proof its holder was given it; a live report through a test click is test
/// data), by the ID its caller chose only among the report's own namespace's clicks (those IDs
/// can be guessed: a test key must not be able to claim the one a live click will use).
pub fn attributable(conn: &Connection, id: &str, test: bool) -> Result<Option<AttributableClick>, Error> {
    let by_id = || -> Result<Option<AttributableClick>, Error> {
        Ok(conn
            .prepare_cached(&format!("{ATTRIBUTABLE} WHERE c.id = ?1"))?
            .query_row([id], attributable_from_row)
            .optional()?)
    };
    let by_alias = || -> Result<Option<AttributableClick>, Error> {
        Ok(conn
            .prepare_cached(&format!("{ATTRIBUTABLE} WHERE c.alias = ?1 AND c.test = ?2"))?
            .query_row(params![id, test], attributable_from_row)
            .optional()?)
    };
    by_id_or_alias(id, by_id, by_alias)
}

/// The most recent clicks of a session in namespace `test` (at most 1000), oldest first. Session
/// IDs are the merchant's and can be guessed, so test and live clicks of one session never mix:
/// a test click cannot take a live session's sale. Clicks made in the same millisecond are
/// ordered by ID: arbitrary, but the same answer every time.
pub fn of_session(conn: &Connection, session_id: &str, test: bool) -> Result<Vec<AttributableClick>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT * FROM ({ATTRIBUTABLE} WHERE c.session_id = ?1 AND c.test = ?2
                        ORDER BY c.created_at DESC, c.id DESC LIMIT 1000)
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![session_id, test], attributable_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
