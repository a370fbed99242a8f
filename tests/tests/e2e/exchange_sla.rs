//! An SLA's spreadsheets over REST on the real server, both backends: the demo SLA exported
//! and imported back unchanged; a council's monthly KPI return (a column per month, "n/a")
//! and cost lines (a column per council, by initials) previewed and applied, the kept line
//! landing in the partners' figures and the shared one in the SLA; a guest's export without
//! the partners' figures, and a guest and an outside council refused.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tests::{Backend, StatusCode, TestServer, on_both_backends};

const SLA: &str = "Revenues & benefits SLA 2026/27";

async fn download(s: &TestServer, path: &str, token: &str) -> (StatusCode, Vec<u8>) {
    let resp = s
        .http
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

fn body(format: &str, bytes: &[u8]) -> Value {
    json!({ "format": format, "file": STANDARD.encode(bytes) })
}

/// The sheets of a workbook and their rows as text.
fn sheet(bytes: &[u8], name: &str) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range(name).unwrap();
    range
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect()
}

async fn sla_spreadsheets(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let grace = s.login("grace@riverside.org.uk").await;
    let carl = s.login("carl@carrow.gov.uk").await;
    let sla = s.doc_id(&arun, SLA).await;

    // The demo SLA as a workbook: KPIs, measurements, both kinds of cost line.
    let (status, xlsx) = download(&s, &format!("/api/documents/{sla}/export.xlsx"), &arun).await;
    assert_eq!(status, StatusCode::OK);
    let costs = sheet(&xlsx, "Cost shares");
    let lines: Vec<(&str, &str)> = costs[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[5].as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("Benefits take-up advice contract (Riverside)", "Yes"),
            ("Shared revenues and benefits team", "No"),
            ("Revenues system licence", "No"),
        ]
    );
    assert!(sheet(&xlsx, "KPIs").len() > 1);
    let (status, csv) = download(&s, &format!("/api/documents/{sla}/export.csv"), &arun).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8(csv.clone())
            .unwrap()
            .contains("Average days to process new benefit claims")
    );

    // Importing what was exported changes nothing.
    for (format, bytes) in [("xlsx", &xlsx), ("csv", &csv)] {
        let (status, p) = s
            .post(
                &format!("/api/documents/{sla}/import/preview"),
                &arun,
                body(format, bytes),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        let p = &p["preview"];
        assert_eq!(p["errors"], 0, "{format}: {p}");
        for kind in [
            "kpis",
            "measurements",
            "costShares",
            "timeAllocations",
            "savings",
            "terms",
        ] {
            assert_eq!(p[kind]["creates"], 0, "{format} {kind}: {p}");
            assert_eq!(p[kind]["updates"], 0, "{format} {kind}: {p}");
        }
    }

    // A guest sees the SLA's shared line only, and may not import.
    let (status, guest_xlsx) =
        download(&s, &format!("/api/documents/{sla}/export.xlsx"), &grace).await;
    assert_eq!(status, StatusCode::OK);
    let guest_lines: Vec<String> = sheet(&guest_xlsx, "Cost shares")[1..]
        .iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        guest_lines,
        ["Benefits take-up advice contract (Riverside)"]
    );
    assert!(
        !String::from_utf8_lossy(&guest_xlsx).contains("Shared revenues and benefits team"),
        "no trace of a kept line in the guest's file"
    );
    let council_return = "\
KPI,Target,Amber threshold,Apr-26,May-26,Jun-26,Commentary
Calls answered within 60 seconds (%),≥ 80%,75%,78%,n/a,82%,Recovered after the new rota
";
    let (status, _) = s
        .post(
            &format!("/api/documents/{sla}/import/preview"),
            &grace,
            body("csv", council_return.as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another council's officer is told nothing exists.
    for path in ["export.xlsx", "export.csv"] {
        let (status, _) = download(&s, &format!("/api/documents/{sla}/{path}"), &carl).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = s
        .post(
            &format!("/api/documents/{sla}/import/apply"),
            &carl,
            body("csv", council_return.as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The council's monthly return: a new KPI, three months, "n/a" flagged in its cell.
    let (status, p) = s
        .post(
            &format!("/api/documents/{sla}/import/preview"),
            &arun,
            body("csv", council_return.as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let row = &p["preview"]["rows"][0];
    assert_eq!(row["outcome"]["kind"], "kpi", "{row}");
    assert_eq!(row["outcome"]["kpi"]["polarity"], "higher-is-better");
    assert_eq!(row["outcome"]["kpi"]["amberTolerance"], 5.0);
    assert_eq!(row["warnings"][0]["column"], "E");
    assert_eq!(row["warnings"][0]["code"], "no-figure");
    assert_eq!(p["mapping"]["sheets"]["CSV"]["D"], "period:2026-04");
    let (status, applied) = s
        .post(
            &format!("/api/documents/{sla}/import/apply"),
            &arun,
            body("csv", council_return.as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["detail"]["kpis"]["creates"], 1, "{applied}");
    assert_eq!(applied["detail"]["measurements"]["creates"], 2, "{applied}");
    assert_eq!(applied["warnings"], 1);
    let (_, content) = s.get(&format!("/api/documents/{sla}/content"), &arun).await;
    let content = &content["content"];
    let kpi = content["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "Calls answered within 60 seconds (%)")
        .unwrap();
    let figures: Vec<(String, f64, String)> = content["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kpiId"] == kpi["id"])
        .map(|m| {
            (
                m["period"].as_str().unwrap().to_owned(),
                m["actual"].as_f64().unwrap(),
                m["commentary"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            ("2026-04".to_owned(), 78.0, String::new()),
            (
                "2026-06".to_owned(),
                82.0,
                "Recovered after the new rota".to_owned()
            ),
        ]
    );

    // Cost lines by council initials: the kept one goes to the partners' figures, the shared
    // one into the SLA (which its guest then syncs).
    let costs = "\
Cost line,Basis,Budget,ABC,BDC,Shared with guests
Fraud investigation team,Caseload,\"£250,000\",120,80,No
Translation service,Equal,£12k,,,Yes
";
    let (status, applied) = s
        .post(
            &format!("/api/documents/{sla}/import/apply"),
            &arun,
            body("csv", costs.as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["detail"]["costShares"]["creates"], 2, "{applied}");
    let descriptions = |v: &Value| -> Vec<String> {
        v["content"]["costShares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["description"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, content) = s.get(&format!("/api/documents/{sla}/content"), &arun).await;
    let shared = descriptions(&content);
    assert!(
        shared.contains(&"Translation service".to_owned()),
        "{shared:?}"
    );
    assert!(!shared.contains(&"Fraud investigation team".to_owned()));
    let figures_id = content["content"]["partnersFigures"].as_str().unwrap();
    let (_, figures) = s
        .get(&format!("/api/documents/{figures_id}/content"), &arun)
        .await;
    let kept = descriptions(&figures);
    assert!(
        kept.contains(&"Fraud investigation team".to_owned()),
        "{kept:?}"
    );
    let fraud = figures["content"]["costShares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["description"] == "Fraud investigation team")
        .unwrap();
    assert_eq!(fraud["totalEstimate"], 25_000_000);
    assert_eq!(fraud["estimateDrivers"].as_object().unwrap().len(), 2);
    // The guest still cannot reach the partners' figures.
    let (status, _) = s
        .get(&format!("/api/documents/{figures_id}/content"), &grace)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

on_both_backends!(sla_spreadsheets);
