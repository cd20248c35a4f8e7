//! Balances, payout runs and their files over HTTP, and the sweeper's approvals after a hold
//! period (#13).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, eventually};

fn convert(s: &Server, order: &str, code: &str, amount: &str) -> i64 {
    let click = s.click(code, json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": order, "amount": amount, "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

fn approve(s: &Server, id: i64) {
    let r = s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
}

fn balance(s: &Server, code: &str) -> Value {
    let r = s.get(&format!("/api/v1/affiliates/{code}/balance"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["balances"].clone()
}

#[test]
fn a_payout_run_pays_available_balances_once_and_refunds_after_it_carry_over() {
    let s = Server::start();
    s.seed();
    assert_eq!(s.post("/api/v1/affiliates", &json!({"referral_code": "bob", "name": "Bob"})).status, 201);
    assert_eq!(balance(&s, "ann"), json!([]));
    let a = convert(&s, "o-1", "ann", "600.00");
    let b = convert(&s, "o-2", "ann", "100.00");
    let c = convert(&s, "o-3", "bob", "100.00");
    convert(&s, "o-4", "ann", "30.00");
    for id in [a, b, c] {
        approve(&s, id);
    }
    assert_eq!(
        balance(&s, "ann"),
        json!([{"currency": "USD", "pending": "3.00", "available": "70.00", "in_payouts": "0.00", "paid": "0.00"}])
    );
    s.get("/api/v1/affiliates/nobody/balance").assert_error(404, "unknown_referral_code");

    let run = json!({"currency": "USD", "minimum": "50.00", "run_id": "2026-11"});
    let made = s.post("/api/v1/payouts", &run);
    assert_eq!(made.status, 201, "{}", made.text());
    let data = made.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "bob's 10.00 is below the minimum: {data:?}");
    let payout = &data[0];
    assert_eq!(
        (&payout["referral_code"], &payout["amount"], &payout["status"], payout["items"].as_array().unwrap().len()),
        (&json!("ann"), &json!("70.00"), &json!("pending"), 2)
    );
    assert_eq!(payout["items"][0]["external_id"], "o-1");
    // A retry, with or without the run_id, makes nothing new.
    assert_eq!(s.post("/api/v1/payouts", &run).json()["data"], made.json()["data"]);
    let again = s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "50.00"}));
    assert_eq!((again.status, again.json()["data"].as_array().unwrap().len()), (201, 0));
    s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "1.00", "run_id": "2026-11"}))
        .assert_error(409, "run_id_conflict");
    s.post("/api/v1/payouts", &json!({"minimum": "1.00"})).assert_error(400, "missing_currency");
    s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "1.001"})).assert_error(400, "invalid_minimum");
    assert_eq!(balance(&s, "ann")[0]["in_payouts"], "70.00");

    let id = payout["id"].as_i64().unwrap();
    let export = s.get(&format!("/api/v1/payouts/{id}/export?format=paypal"));
    export.assert_error(409, "missing_payout_email");
    let r = crate::support::request(
        s.addr,
        "PATCH",
        "/api/v1/affiliates/ann",
        &[("X-Api-Key", crate::support::KEY)],
        json!({"payout_email": "=ann@example.com", "payout_details": "IBAN DE00 1234\nAnn"}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["payout_details"], "IBAN DE00 1234\nAnn");
    let paypal = s.get(&format!("/api/v1/payouts/{id}/export?format=paypal"));
    assert_eq!(paypal.status, 200, "{}", paypal.text());
    assert_eq!(
        paypal.text(),
        format!("'=ann@example.com,70.00,USD,payout-{id},\"Affiliate commission, payout {id}\",PAYPAL\r\n")
    );
    let csv = s.get(&format!("/api/v1/payouts/{id}/export?format=csv")).text();
    assert!(csv.starts_with("payout_id,referral_code,name,payout_email,payout_details,currency,amount,"), "{csv}");
    s.get(&format!("/api/v1/payouts/{id}/export?format=xls")).assert_error(400, "invalid_format");

    let paid = s.post(&format!("/api/v1/payouts/{id}/mark-paid"), &json!({"reference": "PP-BATCH-9"}));
    assert_eq!(
        (paid.status, &paid.json()["status"], &paid.json()["reference"]),
        (200, &json!("paid"), &json!("PP-BATCH-9"))
    );
    let conflict = s.post(&format!("/api/v1/payouts/{id}/cancel"), &json!({}));
    conflict.assert_error(409, "invalid_status_transition");
    assert_eq!(conflict.json()["payout"]["status"], "paid");
    s.post(&format!("/api/v1/payouts/{id}/mark-paid"), &json!({})).assert_error(409, "invalid_status_transition");
    s.post("/api/v1/payouts/999/cancel", &json!({})).assert_error(404, "not_found");

    // A refund of a paid-out conversion never edits the payout: available goes below zero.
    let r = s.post(&format!("/api/v1/conversions/{a}/refund"), &json!({"amount": "300.00", "refund_id": "re-1"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        balance(&s, "ann"),
        json!([{"currency": "USD", "pending": "3.00", "available": "-30.00", "in_payouts": "0.00", "paid": "70.00"}])
    );
    assert_eq!(s.get(&format!("/api/v1/payouts/{id}")).json()["amount"], "70.00");
    let none = s.post("/api/v1/payouts", &json!({"currency": "USD"})).json()["data"].clone();
    assert!(none.as_array().unwrap().iter().all(|p| p["referral_code"] != "ann"), "{none}");

    // Cancelling returns the entries to the balance.
    let bobs = &none.as_array().unwrap()[0];
    assert_eq!((&bobs["referral_code"], &bobs["amount"]), (&json!("bob"), &json!("10.00")));
    let bob_id = bobs["id"].as_i64().unwrap();
    let cancelled = s.post(&format!("/api/v1/payouts/{bob_id}/cancel"), &json!({}));
    assert_eq!((cancelled.status, &cancelled.json()["status"]), (200, &json!("cancelled")));
    assert_eq!(balance(&s, "bob")[0]["available"], "10.00");

    let list = s.get("/api/v1/payouts?status=paid&referral_code=ann&limit=1").json();
    assert_eq!((list["data"].as_array().unwrap().len(), &list["data"][0]["id"]), (1, &json!(id)));
    assert!(list["next_cursor"].is_string());
    s.get("/api/v1/payouts?status=sent").assert_error(400, "invalid_status");
    assert_eq!(s.get("/api/v1/payouts?referral_code=bob").json()["data"][0]["status"], "cancelled");

    // Payout details are personal data: erased on request, logged as a hash; the books stay.
    let erased = crate::support::request(
        s.addr,
        "DELETE",
        "/api/v1/affiliates/ann/personal-data",
        &[("X-Api-Key", crate::support::KEY)],
        b"",
    );
    assert_eq!(erased.status, 204, "{}", erased.text());
    let ann = s.get("/api/v1/affiliates/ann").json();
    assert_eq!(
        (&ann["name"], &ann["payout_email"], &ann["payout_details"]),
        (&json!("ann"), &Value::Null, &Value::Null)
    );
    let log = std::fs::read_to_string(format!("{}.erasure-log", s.db_path().display())).unwrap();
    assert!(log.starts_with("affiliate ") && !log.contains("IBAN"), "{log}");
    assert_eq!(s.get(&format!("/api/v1/payouts/{id}")).json()["amount"], "70.00");
}

#[test]
fn the_sweeper_approves_after_the_hold_period_but_not_what_needs_a_person() {
    let s = Server::start_with(
        &["--approve-after", "0s", "--sweep-interval", "1s", "--pixel", "on", "--min-click-age", "0"],
        &[],
    );
    s.seed();
    let held = s.post(
        "/api/v1/offers",
        &json!({"id": "held", "name": "Held", "landing_url": "https://shop.example/", "approve_after_days": 30,
                "commission": {"type": "percent", "value": "10"}}),
    );
    assert_eq!((held.status, &held.json()["approve_after_days"]), (201, &json!(30)), "{}", held.text());
    assert_eq!(s.get("/api/v1/offers/main").json()["approve_after_days"], Value::Null);
    s.post(
        "/api/v1/offers",
        &json!({"id": "bad", "name": "Bad", "landing_url": "https://shop.example/",
        "approve_after_days": -1, "commission": {"type": "flat", "value": "1"}}),
    )
    .assert_error(400, "invalid_approve_after_days");
    let clean = convert(&s, "o-clean", "ann", "100.00");
    let refunded = convert(&s, "o-part", "ann", "100.00");
    let r = s.post(&format!("/api/v1/conversions/{refunded}/refund"), &json!({"amount": "1.00", "refund_id": "r"}));
    assert_eq!(r.status, 200);
    let flagged = convert(&s, "o-flag", "ann", "100.00");
    s.sql().execute("UPDATE conversions SET flags = 'too_fast' WHERE id = ?1", [flagged]).unwrap();
    let click = s.click("ann", json!({}));
    s.get_public(&format!("/pixel.gif?click_id={click}&order_id=o-pixel&amount=5.00"));
    let held_click = s.click("ann", json!({"offer": "held"}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": "o-held", "amount": "5", "click_id": held_click}));
    assert_eq!(r.status, 201, "{}", r.text());
    let status = |order: &str| {
        let list = s.get("/api/v1/conversions?limit=50").json();
        list["data"].as_array().unwrap().iter().find(|c| c["external_id"] == order).unwrap()["status"].clone()
    };
    assert!(eventually(Duration::from_secs(20), || status("o-clean") == "approved"), "never approved");
    let history = s.get(&format!("/api/v1/conversions/{clean}")).json();
    let last = history["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["actor"], &last["reason"]), (&json!("hold_period"), &json!("approved after hold period")));
    assert!(eventually(Duration::from_secs(10), || s.log_text().contains("approved 1 conversions after their hold")));
    for order in ["o-part", "o-flag", "o-pixel", "o-held"] {
        assert_eq!(status(order), "pending", "{order}");
    }
    assert_eq!(balance(&s, "ann")[0]["available"], "10.00");
}

#[test]
fn the_admin_shows_balances_and_runs_payouts() {
    let s = Server::start_with(&["--admin-token", crate::admin::TOKEN], &[]);
    s.seed();
    let a = convert(&s, "o-1", "ann", "600.00");
    approve(&s, a);
    let session = crate::admin::Session::start(&s);
    let page = session.get(&s, "/admin/balances");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("$60.00") && page.text().contains("Make payouts"), "{}", page.text());
    let made = session.post(&s, "/admin/payouts", &[("currency", "USD"), ("minimum", "50.00")]);
    assert_eq!(made.status, 303, "{}", made.text());
    let payouts = session.get(&s, made.header("location").unwrap());
    assert!(payouts.text().contains("Made 1 payout."), "{}", payouts.text());
    let id = s.get("/api/v1/payouts").json()["data"][0]["id"].as_i64().unwrap();
    let paid = session.post(&s, &format!("/admin/payouts/{id}/mark-paid"), &[("reference", "tx-7")]);
    assert_eq!(paid.status, 303);
    assert_eq!(s.get(&format!("/api/v1/payouts/{id}")).json()["reference"], "tx-7");
    let again = session.post(&s, &format!("/admin/payouts/{id}/cancel"), &[]);
    assert_eq!(again.status, 409);
    assert!(again.text().contains("only a pending payout"), "{}", again.text());
    let saved = session.post(
        &s,
        "/admin/affiliates/ann",
        &[("name", "Ann"), ("payout_email", "ann@example.com"), ("payout_details", "IBAN DE00\r\nAnn")],
    );
    assert_eq!(saved.status, 303, "{}", saved.text());
    assert_eq!(s.get("/api/v1/affiliates/ann").json()["payout_email"], "ann@example.com");
    let paypal = session.get(&s, "/admin/payout-runs/1/export?format=paypal");
    assert!(paypal.text().starts_with("ann@example.com,60.00,USD,payout-"), "{}", paypal.text());
    let file = session.get(&s, "/admin/payout-runs/1/export?format=csv");
    assert_eq!((file.status, file.header("content-type")), (200, Some("text/csv; charset=utf-8")));
    assert!(file.text().contains(",ann,Ann,"), "{}", file.text());
    let detail = session.get(&s, &format!("/admin/payouts/{id}")).text();
    assert!(detail.contains("o-1") && detail.contains("tx-7"), "{detail}");
    assert_eq!(session.post(&s, "/admin/payouts", &[("currency", "USD")]).status, 303, "an empty run is fine");
}

/// A payout run is many small writer jobs, so a crash can land in the middle of one (#25): kill
/// the server (SIGKILL) after the run has paid some affiliates and before it paid the rest,
/// start it again and send the same run_id: the run completes, every approved commission is in
/// exactly one live payout, one payout per affiliate, each for the sum of what it holds.
#[test]
fn a_payout_run_killed_midway_is_finished_by_its_run_id_and_pays_every_entry_once() {
    const AFFILIATES: usize = 120;
    let mut s = Server::start_with(&["--admin-token", crate::admin::TOKEN], &[]);
    s.seed();
    for i in 0..AFFILIATES {
        let code = format!("a{i}");
        assert_eq!(s.post("/api/v1/affiliates", &json!({"referral_code": code, "name": code})).status, 201);
        approve(&s, convert(&s, &format!("o-{i}"), &code, "100.00"));
    }
    let run = json!({"currency": "USD", "run_id": "crash-1"});
    let addr = s.addr;
    let body = run.to_string();
    let poster = std::thread::spawn(move || {
        // The answer never comes: the server is killed under it.
        std::panic::catch_unwind(|| {
            crate::support::request(
                addr,
                "POST",
                "/api/v1/payouts",
                &[("X-Api-Key", crate::support::KEY)],
                body.as_bytes(),
            )
        })
        .ok()
        .map(|r| r.status)
    });
    // Freeze the server (SIGSTOP) as soon as some affiliate is paid, then look at the database:
    // what it holds is what a crash at that moment leaves. The run has a writer job per
    // affiliate still to go, so it is frozen in the middle.
    let db = s.sql();
    let built = "SELECT count(*) FROM payouts p JOIN payout_runs r ON r.id = p.run
                 WHERE r.run_id = 'crash-1' AND p.building = 0";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while db.query_row(built, [], |r| r.get::<_, i64>(0)).unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "the run paid nobody");
        std::thread::sleep(Duration::from_micros(200));
    }
    // SAFETY: kill(2) on the server's own process id; no memory is involved.
    assert_eq!(unsafe { libc::kill(s.pid() as libc::pid_t, libc::SIGSTOP) }, 0);
    let (status, paid): (String, i64) = db
        .query_row(&format!("SELECT r.status, ({built}) FROM payout_runs r WHERE r.run_id = 'crash-1'"), [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(status, "building");
    assert!(paid < AFFILIATES as i64, "{paid} of {AFFILIATES} paid: the run is not midway");
    s.crash();
    assert_ne!(poster.join().unwrap(), Some(201), "the run was not answered before the crash");

    s.restart_after_crash();
    let interrupted = crate::admin::Session::start(&s).get(&s, "/admin/payouts").text();
    assert!(interrupted.contains("crash-1</span> <span class=\"badge"), "the admin marks the run: {interrupted}");
    assert!(interrupted.contains(">building<"), "{interrupted}");
    let finished = s.post("/api/v1/payouts", &run);
    assert_eq!(finished.status, 201, "{}", finished.text());
    let db = s.sql();
    let (status, payouts, affiliates, total): (String, i64, i64, i64) = db
        .query_row(
            "SELECT r.status, count(p.id), count(DISTINCT p.affiliate_id), sum(p.amount)
             FROM payout_runs r JOIN payouts p ON p.run = r.id WHERE r.run_id = 'crash-1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let n = AFFILIATES as i64;
    assert_eq!((status.as_str(), payouts, affiliates, total), ("complete", n, n, n * 1000));
    let not_once: i64 = db
        .query_row(
            "SELECT count(*) FROM ledger_entries l WHERE l.kind = 'approved'
               AND (SELECT count(*) FROM payout_items i WHERE i.entry_id = l.id AND i.live = 1) != 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(not_once, 0, "every approved commission is in exactly one live payout");
    let wrong_sum: i64 = db
        .query_row(
            "SELECT count(*) FROM payouts p WHERE p.building = 1 OR p.amount !=
               (SELECT sum(l.amount) FROM payout_items i JOIN ledger_entries l ON l.id = i.entry_id WHERE i.payout_id = p.id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(wrong_sum, 0);
    for i in [0, AFFILIATES - 1] {
        assert_eq!(balance(&s, &format!("a{i}"))[0]["in_payouts"], "10.00");
    }
    // Once complete, the run_id answers with the run and makes nothing: the run's summary and a
    // first page of its payouts, continued by the list.
    let again = s.post("/api/v1/payouts", &run).json();
    assert_eq!(
        (&again["run"]["status"], &again["run"]["payouts"], &again["run"]["amount"]),
        (&json!("complete"), &json!(AFFILIATES), &json!("1200.00"))
    );
    let mut seen = again["data"].as_array().unwrap().len();
    assert_eq!(seen, 50, "one page");
    let run_no = again["run"]["id"].as_i64().unwrap();
    let rest =
        s.get(&format!("/api/v1/payouts?run={run_no}&limit=500&cursor={}", again["next_cursor"].as_str().unwrap()));
    seen += rest.json()["data"].as_array().unwrap().len();
    assert_eq!(seen, AFFILIATES);
    let count: i64 = db.query_row("SELECT count(*) FROM payouts", [], |r| r.get(0)).unwrap();
    assert_eq!(count, n);
}

/// A payout's answer stays small however many orders it pays (#25): its first 20 items, their
/// number and a cursor; `GET /api/v1/payouts/{id}/items` pages the rest in ledger order, and
/// the admin's payout page shows 50 at a time.
#[test]
fn a_payout_of_many_orders_pages_its_items() {
    let s = Server::start_with(&["--admin-token", crate::admin::TOKEN], &[]);
    s.seed();
    for i in 0..55 {
        approve(&s, convert(&s, &format!("o-{i:02}"), "ann", "10.00"));
    }
    let made = s.post("/api/v1/payouts", &json!({"currency": "USD"})).json();
    assert_eq!((&made["run"]["status"], &made["run"]["payouts"]), (&json!("complete"), &json!(1)));
    let payout = &made["data"][0];
    assert_eq!((&payout["amount"], &payout["items_count"]), (&json!("55.00"), &json!(55)));
    assert_eq!(payout["items"].as_array().unwrap().len(), 20);
    let id = payout["id"].as_i64().unwrap();
    assert_eq!(s.get(&format!("/api/v1/payouts/{id}")).json()["items"], payout["items"]);

    let mut orders: Vec<String> =
        payout["items"].as_array().unwrap().iter().map(|i| i["external_id"].as_str().unwrap().to_string()).collect();
    let mut cursor = payout["items_next_cursor"].as_str().map(String::from);
    while let Some(c) = cursor {
        let page = s.get(&format!("/api/v1/payouts/{id}/items?limit=15&cursor={c}"));
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        orders.extend(page["data"].as_array().unwrap().iter().map(|i| i["external_id"].as_str().unwrap().to_string()));
        cursor = page["next_cursor"].as_str().map(String::from);
    }
    assert_eq!(orders, (0..55).map(|i| format!("o-{i:02}")).collect::<Vec<_>>(), "every item once, in ledger order");
    let all = s.get(&format!("/api/v1/payouts/{id}/items?limit=500")).json();
    assert_eq!((all["data"].as_array().unwrap().len(), &all["next_cursor"]), (55, &Value::Null));
    s.get("/api/v1/payouts/999/items").assert_error(404, "not_found");
    s.get(&format!("/api/v1/payouts/{id}/items?cursor=x")).assert_error(400, "invalid_cursor");

    let session = crate::admin::Session::start(&s);
    let first = session.get(&s, &format!("/admin/payouts/{id}")).text();
    assert!(first.contains("55 ledger entries") && first.contains("o-49") && !first.contains("o-50"), "{first}");
    let next = first.split(&format!("href=\"/admin/payouts/{id}?after=")).nth(1).expect("a next page link");
    let after = next.split('"').next().unwrap();
    let second = session.get(&s, &format!("/admin/payouts/{id}?after={after}")).text();
    assert!(second.contains("o-50") && second.contains("o-54") && !second.contains("o-49"), "{second}");

    // The affiliate's own payout page pages the same way (order IDs by their last characters).
    let mut ann = crate::portal::join(&s, "ann");
    let first = ann.get(&s, &format!("/portal/payouts/{id}")).text();
    assert!(first.contains("55 ledger entries") && first.contains(&format!("/portal/payouts/{id}?after=")), "{first}");
    let after = first.split(&format!("/portal/payouts/{id}?after=")).nth(1).unwrap().split('"').next().unwrap();
    let second = ann.get(&s, &format!("/portal/payouts/{id}?after={after}")).text();
    assert_eq!(second.matches("<tr><td class=\"mono\">").count(), 5, "the last 5 of 55: {second}");
}
