//! Submitted forms: `application/x-www-form-urlencoded` and `multipart/form-data` (file uploads),
//! read into one list of (name, value) pairs. A file's value is its content as text.

use crate::error::Error;
use crate::transport::Req;
use crate::web::json::Fields;

#[derive(Clone, Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses the request body according to its Content-Type.
    pub fn parse(req: &Req) -> Result<Form, Error> {
        let content_type = req.headers.content_type.as_deref().unwrap_or("");
        let (mime, params) = content_type.split_once(';').unwrap_or((content_type, ""));
        if mime.trim().eq_ignore_ascii_case("multipart/form-data") {
            let boundary = params
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.trim_matches('"'))
                .filter(|b| !b.is_empty() && b.len() <= 70)
                .ok_or_else(|| Error::bad_request("invalid_form", "the multipart form has no boundary"))?;
            return multipart(&req.body, boundary)
                .map(Form)
                .ok_or_else(|| Error::bad_request("invalid_form", "the multipart form could not be read"));
        }
        Ok(Form(form_urlencoded::parse(&req.body).into_owned().collect()))
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Form {
        Form(pairs)
    }

    /// The first value of `name`, trimmed; `None` when missing or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The first value of `name` as sent (not trimmed), or "".
    pub fn raw(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// Every non-blank value of `name`.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The fields named in `names` only: what a form may change, whatever else was posted.
    pub fn only(&self, names: &[&str]) -> Form {
        Form(self.0.iter().filter(|(k, _)| names.contains(&k.as_str())).cloned().collect())
    }
}

impl Fields for Form {
    fn text(&self, field: &str) -> Result<Option<&str>, Error> {
        Ok(self.get(field))
    }

    fn has_field(&self, field: &str) -> bool {
        self.has(field)
    }
}

/// Splits a multipart body into (name, value) pairs; `None` if it is malformed.
fn multipart(body: &[u8], boundary: &str) -> Option<Vec<(String, String)>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut fields = Vec::new();
    // Everything before the first delimiter is a preamble and ignored.
    let mut rest = &body[find(body, delimiter)? + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some(fields);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let header_end = find(rest, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&rest[..header_end]).ok()?;
        let content_start = header_end + 4;
        let mut closing = Vec::with_capacity(delimiter.len() + 2);
        closing.extend_from_slice(b"\r\n");
        closing.extend_from_slice(delimiter);
        let content_len = find(&rest[content_start..], &closing)?;
        let content = &rest[content_start..content_start + content_len];
        if let Some(name) = field_name(headers) {
            fields.push((name, String::from_utf8_lossy(content).into_owned()));
        }
        rest = &rest[content_start + content_len + closing.len()..];
    }
}

/// The `name` parameter of a part's `Content-Disposition: form-data` header.
fn field_name(headers: &str) -> Option<String> {
    let disposition = headers
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))?
        .1;
    disposition.split(';').map(str::trim).find_map(|param| {
        let value = param.strip_prefix("name=")?;
        Some(value.trim_matches('"').to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_files() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"orders.csv\"\r\nContent-Type: text/csv\r\n\r\n\
order_id\r\n1001\r\n--not-the-boundary\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--XyZ--\r\n";
        let fields = multipart(body, "XyZ").unwrap();
        assert_eq!(
            fields,
            vec![
                ("csrf".to_string(), "abc".to_string()),
                ("file".to_string(), "order_id\r\n1001\r\n--not-the-boundary\r\n".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for bad in [
            &b""[..],
            b"--XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno closing delimiter",
            b"--XyZ\r\nno blank line after headers\r\n--XyZ--",
        ] {
            assert_eq!(multipart(bad, "XyZ"), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(multipart(b"--XyZ--\r\n", "XyZ"), Some(vec![]));
    }

    #[test]
    fn values_are_trimmed_and_blank_is_absent() {
        let form = Form::from_pairs(vec![
            ("a".into(), "  x ".into()),
            ("b".into(), "   ".into()),
            ("id".into(), "1".into()),
            ("id".into(), "".into()),
            ("id".into(), "2".into()),
        ]);
        assert_eq!(form.get("a"), Some("x"));
        assert_eq!(form.raw("a"), "  x ");
        assert_eq!(form.get("b"), None);
        assert!(form.has("b"));
        assert_eq!(form.all("id").collect::<Vec<_>>(), ["1", "2"]);
        let only = form.only(&["a", "b"]);
        assert!(only.has("a") && only.has("b") && !only.has("id"));
    }
}
