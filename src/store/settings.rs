//! Install-wide values in the `settings` table (name → text): the hashes of the postback token
//! and of the admin token, and what goes with them. Never a secret in clear.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Error;
use crate::store::writer::Tx;

pub fn get(conn: &Connection, name: &str) -> Result<Option<String>, Error> {
    Ok(conn.prepare_cached("SELECT value FROM settings WHERE name = ?1")?.query_row([name], |r| r.get(0)).optional()?)
}

pub fn set(conn: &Tx, name: &str, value: &str) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = ?2",
    )?
    .execute(params![name, value])?;
    Ok(())
}
