//! CSV out (exports) and in (the shop's order list for reconciliation).
//!
//! Out: RFC 4180 (comma separated, CRLF line ends, fields with a comma, quote or line break
//! quoted, quotes doubled). Text that a spreadsheet would run as a formula (starting with
//! `= + - @`, tab or carriage return) gets a leading `'`, so an affiliate named `=HYPERLINK(…)`
//! stays text. Numbers we format ourselves (amounts, counts) are written as they are, so a
//! negative claw-back stays a number.

/// One cell of an exported row.
pub enum Cell<'a> {
    /// Anything that came from outside (names, order IDs): quoted and neutralised as needed.
    Text(&'a str),
    /// A number this program formatted (`-12.50`, `42`).
    Number(String),
}

/// Appends one CRLF-terminated row.
pub fn write_row(out: &mut String, cells: &[Cell<'_>]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            Cell::Number(n) => out.push_str(n),
            Cell::Text(text) => write_text(out, text),
        }
    }
    out.push_str("\r\n");
}

fn write_text(out: &mut String, text: &str) {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = text.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    if quote {
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// Reads CSV (or a plain list, one value per line) into records. The delimiter is whichever of
/// comma, semicolon or tab appears most in the first line; quoted fields may hold delimiters,
/// doubled quotes and line breaks. Blank lines are skipped; a byte-order mark is ignored.
pub fn records(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = [',', ';', '\t'].into_iter().max_by_key(|d| first_line.matches(*d).count()).unwrap_or(',');
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                record.push(std::mem::take(&mut field));
                end_record(&mut records, &mut record);
            }
            c if c == delimiter => record.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    record.push(field);
    end_record(&mut records, &mut record);
    records
}

fn end_record(records: &mut Vec<Vec<String>>, record: &mut Vec<String>) {
    let done = std::mem::take(record);
    if done.iter().any(|f| !f.trim().is_empty()) {
        records.push(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[Cell<'_>]) -> String {
        let mut out = String::new();
        write_row(&mut out, cells);
        out
    }

    #[test]
    fn quoting_follows_rfc_4180() {
        assert_eq!(row(&[Cell::Text("plain"), Cell::Number("12.50".into())]), "plain,12.50\r\n");
        assert_eq!(row(&[Cell::Text("a,b")]), "\"a,b\"\r\n");
        assert_eq!(row(&[Cell::Text("say \"hi\"")]), "\"say \"\"hi\"\"\"\r\n");
        assert_eq!(row(&[Cell::Text("two\nlines")]), "\"two\nlines\"\r\n");
        assert_eq!(row(&[Cell::Text(""), Cell::Text("")]), ",\r\n");
    }

    #[test]
    fn formulas_are_neutralised_but_our_numbers_are_not() {
        assert_eq!(row(&[Cell::Text("=1+1")]), "'=1+1\r\n");
        assert_eq!(row(&[Cell::Text("+49 30 1234")]), "'+49 30 1234\r\n");
        assert_eq!(row(&[Cell::Text("-2")]), "'-2\r\n");
        assert_eq!(row(&[Cell::Text("@SUM(A1)")]), "'@SUM(A1)\r\n");
        assert_eq!(row(&[Cell::Text("=HYPERLINK(\"x\",\"y\")")]), "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"\r\n");
        assert_eq!(row(&[Cell::Number("-12.50".into())]), "-12.50\r\n");
        assert_eq!(row(&[Cell::Text("a=b")]), "a=b\r\n");
    }

    #[test]
    fn reads_lists_csv_and_quoted_fields() {
        assert_eq!(records("1001\n1002\r\n\n 1003 \n"), vec![vec!["1001"], vec!["1002"], vec![" 1003 "]]);
        assert_eq!(
            records("\u{feff}id,total\r\n\"10,01\",\"5\"\"\"\r\n\"multi\nline\",3"),
            vec![vec!["id", "total"], vec!["10,01", "5\""], vec!["multi\nline", "3"]]
        );
        assert_eq!(records("Order;Total\n#1;2,50\n"), vec![vec!["Order", "Total"], vec!["#1", "2,50"]]);
        assert_eq!(records("a\tb\n1\t2"), vec![vec!["a", "b"], vec!["1", "2"]]);
        assert!(records("").is_empty());
    }
}
