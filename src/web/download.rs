//! Files streamed while they are sent (CSV exports): a header, then one chunk per page of rows,
//! each rendered only when the worker is ready to send it, so a download holds one page in
//! memory whatever the number of rows.
//!
//! Architecture Invariant: no SQL here; the pages come from the store (e.g.
//! `store::conversions::Pages`, which reads each in a short read transaction of its own).

use crate::error::Error;
use crate::transport::response::{Chunks, Response};

/// Rows read per chunk of a streamed export.
pub const PAGE_ROWS: usize = 1_000;

/// A CSV file named `file_name`: `header` first, then `render` of each page of `pages`.
pub fn csv<T, P, R>(file_name: &str, header: String, mut pages: P, mut render: R) -> Response
where
    P: Iterator<Item = Result<Vec<T>, Error>> + Send + 'static,
    R: FnMut(&mut String, &T) + Send + 'static,
{
    let mut header = Some(header);
    let chunks: Chunks = Box::new(move || {
        if let Some(h) = header.take() {
            return Some(Ok(h.into_bytes()));
        }
        let page = pages.next()?;
        Some(page.map_err(|e| e.to_string()).map(|rows| {
            let mut out = String::with_capacity(rows.len() * 160);
            for row in &rows {
                render(&mut out, row);
            }
            out.into_bytes()
        }))
    });
    Response::csv_stream(file_name, chunks)
}
