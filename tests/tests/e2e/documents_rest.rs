//! The documents' REST views over the real server, on both backends: the partnership
//! dashboard and the council overview (and that neither leaks another council's private data),
//! named versions (frozen, immutable in the database), the change report between versions
//! after live edits, and the audit trail tying each edit to the user who made it.
//! dashboard and the council overview (and that neither leaks another council's private data),
//! named versions (frozen, immutable in the database), the change report between versions
//! after live edits, and the audit trail tying each edit to the user who made it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use serde_json::{Value, json};
use tests::ws::{Replica, SyncClient};
use tests::{Backend, StatusCode, TestServer, on_both_backends};

pub(crate) const SHARED_REGISTER: &str = "Shared services partnership risk register";
pub(crate) const SLA: &str = "Revenues & benefits SLA 2026/27";

async fn partnership_id(s: &TestServer, token: &str) -> String {
    let (status, list) = s.get("/api/partnerships", token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list[0]["id"].as_str().unwrap().to_owned()
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn dashboard_and_overview_respect_access(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let carl = s.login("carl@carrow.gov.uk").await;
    let grace = s.login("grace@riverside.org.uk").await;
    let pid = partnership_id(&s, &arun).await;

    let (status, d) = s
        .get(&format!("/api/partnerships/{pid}/dashboard"), &arun)
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let registers = d["registers"].as_array().unwrap();
    assert_eq!(registers.len(), 1, "only the shared register: {d}");
    let reg = &registers[0];
    assert_eq!(reg["document"]["title"], SHARED_REGISTER);
    assert_eq!(reg["open_risks"], 10);
    // Heat maps: every open risk sits in one cell of each map.
    for kind in ["inherent", "current", "target"] {
        let total: u64 = reg["heat_maps"][kind]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|n| n.as_u64().unwrap()))
            .sum();
        assert_eq!(total, 10, "{kind}");
    }
    // Every cell has a band label (never colour alone).
    assert!(
        reg["heat_maps"]["bands"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
            .all(|c| !c["label"].as_str().unwrap().is_empty()
                && !c["pattern"].as_str().unwrap().is_empty())
    );
    // SP-07 (4 × 4 now, worsening) is among the red risks, with its direction.
    let red = &reg["red_risks"];
    let sp07 = red
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reference"] == "SP-07")
        .unwrap_or_else(|| panic!("SP-07 red: {red}"));
    assert_eq!(sp07["score"], 16);
    assert_eq!(sp07["direction"], "worsening");
    // Overdue: act-2 and act-4 (act-5 is done), SP-03's review.
    let mut overdue = strings(&reg["overdue_actions"], "id");
    overdue.sort();
    assert_eq!(overdue, ["act-2", "act-4"]);
    assert!(strings(&reg["overdue_reviews"], "reference").contains(&"SP-03".to_owned()));
    // Council names, not ids, in the action list.
    assert!(
        reg["overdue_actions"][0]["council"]
            .as_str()
            .unwrap()
            .contains("Council")
    );

    let slas = d["slas"].as_array().unwrap();
    assert_eq!(slas.len(), 1);
    let sla = &slas[0];
    // Benefit claims: 24.2 days against a target of 22 with 2 days' tolerance → red.
    let claims = sla["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "kpi-claims")
        .unwrap();
    assert_eq!(claims["rag"], "red", "{claims}");
    assert_eq!(sla["red_kpis"], 1);
    // The cost split adds up to the total, to the penny, by council name.
    let team = sla["cost_split"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["description"] == "Shared revenues and benefits team")
        .unwrap();
    let sum: i64 = team["estimate"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(sum, 412_000_000);
    assert!(
        team["estimate"].get("Ashby Borough Council").is_some(),
        "{team}"
    );
    // The caseload drifted past the 2-point tolerance: re-base flagged.
    assert!(!team["rebase"].as_object().unwrap().is_empty(), "{team}");
    assert_eq!(
        d["totals"]["savings"]["Ashby Borough Council"],
        18_500_000 + 9_000_000
    );

    // A council outside the partnership: no dashboard at all.
    let (status, _) = s
        .get(&format!("/api/partnerships/{pid}/dashboard"), &carl)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The guest sees the SLA granted to them and nothing else.
    let (status, g) = s
        .get(&format!("/api/partnerships/{pid}/dashboard"), &grace)
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(g["registers"], json!([]));
    assert_eq!(g["slas"].as_array().unwrap().len(), 1);
    assert_eq!(g["slas"][0]["document"]["title"], SLA);
    assert_eq!(g["other_documents"], json!([]));

    // Each council's overview: its partnerships and its own private registers only.
    let (status, o) = s.get("/api/overview", &arun).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    let private: Vec<String> = o["private_registers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["document"]["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(private, ["Ashby corporate risk register"]);
    assert_eq!(o["partnerships"].as_array().unwrap().len(), 1);
    assert_eq!(o["organisation"], "Ashby Borough Council");
    let (_, ob) = s.get("/api/overview", &ben).await;
    let text = ob.to_string();
    assert!(text.contains("Brockley exit planning register"));
    for secret in [
        "Ashby corporate risk register",
        "Ashby bears the exit costs",
        "Carrow",
        "City centre regeneration",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} leaked to Brockley: {text}"
        );
    }
    let (_, oc) = s.get("/api/overview", &carl).await;
    assert_eq!(oc["partnerships"], json!([]));
    let text = oc.to_string();
    assert!(!text.contains("Shared services") && !text.contains("Ashby corporate"));
    s.stop().await;
}

/// Ben (Brockley) moves SP-02's score with a reason and adds a risk over live sync.
async fn ben_edits_the_register(s: &TestServer, ben: &str, doc: &str) {
    let mut client = SyncClient::connect(s, ben, "peer-ben").await;
    let mut r = Replica::new(doc);
    r.settle(&mut client).await;
    let today = chrono::Utc::now().date_naive().to_string();
    let (_, assessments) = r.doc.get(ROOT, "assessments").unwrap().unwrap();
    let n = r.doc.length(&assessments);
    domain::documents::insert_json(
        &mut r.doc,
        &assessments,
        n,
        &json!({
            "id": "ben-1", "riskId": "risk-2", "kind": "current", "likelihood": 4,
            "impact": 4, "date": today, "assessor": "Ben Walsh",
            "reason": "Brockley's new corporate plan drops two shared priorities",
        }),
    )
    .unwrap();
    let (_, risks) = r.doc.get(ROOT, "risks").unwrap().unwrap();
    let n = r.doc.length(&risks);
    domain::documents::insert_json(
        &mut r.doc,
        &risks,
        n,
        &json!({
            "id": "risk-new", "reference": "SP-11", "title": "Shared contact centre telephony fails",
            "category": "Operational", "owner": "Head of ICT (shared)", "identified": today,
            "response": "treat", "reviewFrequencyDays": 30, "nextReview": today,
            "status": "open", "escalation": "service",
        }),
    )
    .unwrap();
    // And retitles SP-10.
    let sp10 = r.doc.get(&risks, 9).unwrap().unwrap().1;
    r.doc
        .put(
            &sp10,
            "title",
            "Key officers leave the shared management team",
        )
        .unwrap();
    let heard = r.settle(&mut client).await;
    assert!(heard.is_empty(), "edit refused: {heard:?}");
}

async fn versions_changes_and_audit(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let carl = s.login("carl@carrow.gov.uk").await;
    let grace = s.login("grace@riverside.org.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;

    // Freeze the register as the committee agreed it.
    let (status, v1) = s
        .post(
            &format!("/api/documents/{doc}/versions"),
            &arun,
            json!({ "label": "Agreed at Joint Governance Committee, 12 March" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    let v1_id = v1["id"].as_str().unwrap().to_owned();
    assert!(!v1["heads"].as_array().unwrap().is_empty());
    // A blank label is refused; outsiders see nothing.
    let (status, _) = s
        .post(
            &format!("/api/documents/{doc}/versions"),
            &arun,
            json!({ "label": "  " }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = s
        .post(
            &format!("/api/documents/{doc}/versions"),
            &carl,
            json!({ "label": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.get(&format!("/api/versions/{v1_id}"), &carl).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.get(&format!("/api/versions/{v1_id}"), &grace).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    ben_edits_the_register(&s, &ben, &doc).await;

    // The report since the version: the move with its reason, the new risk.
    let (status, c) = s
        .get(&format!("/api/documents/{doc}/changes?from={v1_id}"), &arun)
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let report = &c["report"];
    assert_eq!(report["kind"], "risk-register");
    assert_eq!(strings(&report["added"], "reference"), ["SP-11"]);
    let moved = report["moved"].as_array().unwrap();
    let sp02 = moved
        .iter()
        .find(|m| m["reference"] == "SP-02" && m["kind"] == "current")
        .unwrap_or_else(|| panic!("SP-02 moved: {report}"));
    assert_eq!(sp02["from"]["score"], 9);
    assert_eq!(sp02["to"]["score"], 16);
    assert_eq!(sp02["change"], 7);
    assert_eq!(
        sp02["reason"],
        "Brockley's new corporate plan drops two shared priorities"
    );

    // The version still reads as it was; now reads with the edits.
    let (_, then) = s
        .get(
            &format!("/api/documents/{doc}/content?version={v1_id}"),
            &ben,
        )
        .await;
    assert_eq!(then["content"]["risks"].as_array().unwrap().len(), 10);
    assert_eq!(then["version"]["label"], v1["label"]);
    let (_, now) = s.get(&format!("/api/documents/{doc}/content"), &ben).await;
    assert_eq!(now["content"]["risks"].as_array().unwrap().len(), 11);

    // A second version, and the report between the two versions.
    let (_, v2) = s
        .post(
            &format!("/api/documents/{doc}/versions"),
            &ben,
            json!({ "label": "After Brockley's review" }),
        )
        .await;
    let v2_id = v2["id"].as_str().unwrap();
    let (_, c2) = s
        .get(
            &format!("/api/documents/{doc}/changes?from={v1_id}&to={v2_id}"),
            &arun,
        )
        .await;
    assert_eq!(c2["report"]["added"], report["added"]);
    let (_, list) = s
        .get(&format!("/api/documents/{doc}/versions"), &arun)
        .await;
    assert_eq!(
        strings(&list, "label"),
        [v1["label"].as_str().unwrap(), "After Brockley's review"]
    );

    // The audit trail of SP-02: Ben of Brockley, the new assessment, field by field.
    let (status, a) = s
        .get(&format!("/api/documents/{doc}/audit?risk=risk-2"), &arun)
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    let latest = &a["items"][0];
    assert_eq!(latest["author"]["name"], "Ben Walsh (Brockley)", "{a}");
    assert_eq!(
        latest["author"]["organisation"],
        "Brockley District Council"
    );
    let edits = latest["edits"].as_array().unwrap();
    // One edit for the new assessment, in words: what it is, its score, its reason.
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0]["action"], "add");
    assert!(
        edits[0]["label"]
            .as_str()
            .unwrap()
            .ends_with("assessment of SP-02 added"),
        "{edits:?}"
    );
    assert!(
        edits[0]["to"]
            .as_str()
            .unwrap()
            .ends_with(": Brockley's new corporate plan drops two shared priorities"),
        "{edits:?}"
    );
    assert!(edits.iter().all(|e| e["risk_id"] == "risk-2"));
    // The creation of the document is the oldest entry: by the server, not a user.
    let (_, all) = s
        .get(&format!("/api/documents/{doc}/audit?limit=200"), &arun)
        .await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(
        items.last().unwrap()["author"]["user_id"],
        uuid::Uuid::nil().to_string()
    );
    // SP-10's retitle: from what to what.
    let (_, a10) = s
        .get(&format!("/api/documents/{doc}/audit?risk=risk-10"), &arun)
        .await;
    let retitle = a10["items"][0]["edits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("title"))
        .cloned()
        .unwrap_or_else(|| panic!("{a10}"));
    assert_eq!(retitle["label"], "Risk SP-10 · Title");
    assert_eq!(
        retitle["from"],
        "Key staff leave the shared management team"
    );
    assert_eq!(
        retitle["to"],
        "Key officers leave the shared management team"
    );
    // Paging: one change per page, the cursor moves on.
    let (_, p1) = s
        .get(&format!("/api/documents/{doc}/audit?limit=1"), &arun)
        .await;
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = s
        .get(
            &format!("/api/documents/{doc}/audit?limit=1&cursor={cursor}"),
            &arun,
        )
        .await;
    assert_ne!(p1["items"][0]["change"], p2["items"][0]["change"]);
    // The audit of a document one may not see: not found.
    let (status, _) = s.get(&format!("/api/documents/{doc}/audit"), &carl).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A named version is never altered, even by someone with database access.
    let db = s.db.as_ref().unwrap();
    let refused = match backend {
        Backend::Sqlite => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let upd = sqlx::query("update doc_versions set label = 'edited'")
                .execute(&mut c)
                .await;
            let del = sqlx::query("delete from doc_versions")
                .execute(&mut c)
                .await;
            upd.is_err() && del.is_err()
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut ok = true;
            for url in [&db.url, &db.owner_url] {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                let upd = sqlx::query("update doc_versions set label = 'edited'")
                    .execute(&mut c)
                    .await;
                let del = sqlx::query("delete from doc_versions")
                    .execute(&mut c)
                    .await;
                ok &= upd.is_err() && del.is_err();
            }
            ok
        }
    };
    assert!(refused, "a named version could be altered");
    let (_, after) = s.get(&format!("/api/versions/{v1_id}"), &arun).await;
    assert_eq!(after["version"]["label"], v1["label"]);
    s.stop().await;
}

on_both_backends!(
    dashboard_and_overview_respect_access,
    versions_changes_and_audit,
);
