//! A council leaving a partnership, on both backends: Brockley's administrator takes it out of
//! the demo partnership. Every shared document is frozen as a named version the partners keep;
//! Brockley's export holds its own documents, the shared ones at those versions (content, audit
//! trail, the register's workbook) and its people, and stays downloadable by its administrators
//! after access has ended — live too. Who may not: a member who is not an administrator, the
//! host council, another council's administrator.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::Read;
use std::time::Duration;

use serde_json::{Value, json};
use sync::codec::Message;
use tests::ws::{Heard, Replica, SyncClient};
use tests::{Backend, StatusCode, TestServer, on_both_backends};

const REGISTER: &str = "Shared services partnership risk register";
const B_PRIVATE: &str = "Brockley exit planning register";

fn unzip(data: &[u8]) -> zip::ZipArchive<std::io::Cursor<Vec<u8>>> {
    zip::ZipArchive::new(std::io::Cursor::new(data.to_vec())).expect("a ZIP")
}

fn read(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<u8> {
    let mut f = archive
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} in the export"));
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    out
}

fn json_in(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Value {
    serde_json::from_slice(&read(archive, name)).unwrap()
}

async fn a_council_leaving_takes_everything_and_loses_access(backend: Backend) {
    let s = TestServer::start(backend).await;
    let bella = s.login("bella@brockley.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let (_, list) = s.get("/api/partnerships", &bella).await;
    let pid = list[0]["id"].as_str().unwrap().to_owned();
    let register = s.doc_id(&ben, REGISTER).await;
    let (_, view) = s.get(&format!("/api/partnerships/{pid}"), &alice).await;
    let space = view["space_id"].as_str().unwrap().to_owned();
    let (_, shared) = s
        .get(
            &format!("/api/documents?space_id={space}&limit=200"),
            &alice,
        )
        .await;
    let shared_count = shared["items"].as_array().unwrap().len();
    assert!(shared_count >= 5, "{shared}");

    // Who may not take Brockley out.
    let exit = format!("/api/partnerships/{pid}/exit");
    let (status, _) = s.post(&exit, &ben, json!({})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a member who is not an administrator"
    );
    let (status, body) = s.post(&exit, &alice, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "the host council: {body}");

    // Ben has the register open.
    let mut c = SyncClient::connect(&s, &ben, "ben-live").await;
    let mut r = Replica::new(&register);
    r.settle(&mut c).await;
    assert!(r.risk_text(0, "title").is_some());

    let (status, record) = s.post(&exit, &bella, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    let taken = record["shared_documents"].as_array().unwrap();
    assert_eq!(
        taken.len(),
        shared_count,
        "every shared document, archived ones too"
    );
    let version_of_register = taken
        .iter()
        .find(|d| d["document_id"] == register.as_str())
        .unwrap()["version_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Access has ended, live too.
    let mut heard_end = false;
    for _ in 0..50 {
        match c.recv_within(Duration::from_millis(100)).await {
            Heard::Msg(Message::DocUnavailable { document_id, .. }) if document_id == register => {
                heard_end = true;
                break;
            }
            Heard::Closed(..) => {
                heard_end = true;
                break;
            }
            _ => {}
        }
    }
    assert!(heard_end, "Ben's open register is closed to him");
    let (status, _) = s.get(&format!("/api/documents/{register}"), &ben).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let titles: Vec<String> = s.titles(&ben).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(titles, vec![B_PRIVATE.to_owned()]);
    let (status, _) = s.post(&exit, &bella, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no membership left to end");

    // The partners keep the version recorded at the exit.
    let (_, versions) = s
        .get(&format!("/api/documents/{register}/versions"), &alice)
        .await;
    let at_exit = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == version_of_register.as_str())
        .expect("the exit's version is the partnership's too");
    assert!(
        at_exit["label"]
            .as_str()
            .unwrap()
            .starts_with("As at Brockley District Council's exit from"),
        "{at_exit}"
    );

    // Brockley's export: listed for its administrators, downloadable after access ended.
    let (status, exports) = s.get("/api/exits", &bella).await;
    assert_eq!(status, StatusCode::OK);
    let export = &exports[0];
    let download = export["download"].as_str().unwrap();
    assert_eq!(download, record["download"].as_str().unwrap());
    let resp = s
        .http
        .get(format!("{}{download}", s.base))
        .bearer_auth(&bella)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let data = resp.bytes().await.unwrap().to_vec();
    assert_eq!(store::checksum(&data), export["checksum"].as_str().unwrap());
    let mut zip = unzip(&data);
    let manifest = json_in(&mut zip, "manifest.json");
    assert_eq!(
        manifest["organisation"]["name"],
        "Brockley District Council"
    );
    let docs = manifest["documents"].as_array().unwrap();
    let shared_in: Vec<&Value> = docs.iter().filter(|d| d["space"] == "shared").collect();
    let own_in: Vec<&Value> = docs.iter().filter(|d| d["space"] == "own").collect();
    assert_eq!(shared_in.len(), shared_count);
    assert!(own_in.iter().any(|d| d["title"] == B_PRIVATE), "{manifest}");
    // The shared register as it stood at the exit: the same content the version shows.
    let entry = shared_in
        .iter()
        .find(|d| d["document_id"] == register.as_str())
        .unwrap();
    let folder = entry["folder"].as_str().unwrap();
    assert_eq!(entry["version_id"], version_of_register.as_str());
    let content = json_in(&mut zip, &format!("{folder}/content.json"));
    let (_, at_version) = s
        .get(
            &format!("/api/documents/{register}/content?version={version_of_register}"),
            &alice,
        )
        .await;
    assert_eq!(content["content"]["risks"], at_version["content"]["risks"]);
    assert_eq!(content["version"]["id"], version_of_register.as_str());
    let audit = json_in(&mut zip, &format!("{folder}/audit.json"));
    let audit = audit.as_array().unwrap();
    assert!(!audit.is_empty(), "the register's audit trail");
    assert!(audit.iter().all(|e| e["author"]["name"].is_string()));
    let workbook = read(&mut zip, &format!("{folder}/register.xlsx"));
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(workbook)).unwrap();
    use calamine::Reader;
    let risks = book.worksheet_range("Risks").unwrap();
    assert_eq!(
        risks.height() - 1,
        content["content"]["risks"].as_array().unwrap().len(),
        "one row per risk under the heading"
    );
    let council = json_in(&mut zip, "council.json");
    let people: Vec<&str> = council["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap())
        .collect();
    assert!(people.contains(&"bella@brockley.gov.uk") && people.contains(&"ben@brockley.gov.uk"));

    // Nobody else has it.
    let (status, _) = s.get("/api/exits", &ben).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let resp = s
        .http
        .get(format!("{}{download}", s.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "another council's administrator"
    );
    let (_, theirs) = s.get("/api/exits", &alice).await;
    assert_eq!(theirs, json!([]));
    s.stop().await;
}

/// An export that would leave documents out is refused before anything changes.
async fn an_export_too_large_to_be_whole_changes_nothing(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.max_view_documents = 3).await;
    let bella = s.login("bella@brockley.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let register = s.doc_id(&ben, REGISTER).await;
    let (_, list) = s.get("/api/partnerships", &bella).await;
    let pid = list[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = s
        .post(&format!("/api/partnerships/{pid}/exit"), &bella, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was changed")
    );
    let (status, _) = s.get(&format!("/api/documents/{register}"), &ben).await;
    assert_eq!(status, StatusCode::OK, "still a member");
    let (_, versions) = s
        .get(&format!("/api/documents/{register}/versions"), &ben)
        .await;
    assert!(
        versions
            .as_array()
            .unwrap()
            .iter()
            .all(|v| !v["label"].as_str().unwrap().contains("exit")),
        "no version recorded: {versions}"
    );
    let (_, exports) = s.get("/api/exits", &bella).await;
    assert_eq!(exports, json!([]));
    s.stop().await;
}

on_both_backends!(
    a_council_leaving_takes_everything_and_loses_access,
    an_export_too_large_to_be_whole_changes_nothing,
);
