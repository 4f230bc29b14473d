//! The roster of members (委员名册) over real HTTP, as the console uses it: files of the
//! kinds committee offices keep (UTF-8 CSV with a BOM, GBK CSV, XLSX) previewed row by
//! row and then imported all or nothing; a bad row reported with its row number and
//! nothing saved; a re-import updating members by their number; phones masked except
//! to admins; CSV export read back by the import; sessions and CSRF required.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use common::staff::Staff;
use common::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use yishi::staff::StaffRole;

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// The roster's requests, as the console sends them.
impl Staff {
    async fn upload(&self, path: &str, file: &[u8]) -> (StatusCode, Value) {
        let r = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/octet-stream")
            .body(file.to_vec())
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn preview(&self, file: &[u8]) -> Value {
        let (status, body) = self
            .upload("/api/v1/roster/import/preview?filename=t.csv", file)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn import(&self, file: &[u8]) -> (StatusCode, Value) {
        self.upload("/api/v1/roster/import?filename=t.csv", file)
            .await
    }

    async fn list(&self, q: &str) -> Value {
        let r = self
            .request(reqwest::Method::GET, "/api/v1/roster")
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    async fn export(&self) -> Vec<u8> {
        let r = self
            .request(reqwest::Method::GET, "/api/v1/roster/export?format=csv")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "text/csv; charset=utf-8"
        );
        r.bytes().await.unwrap().to_vec()
    }
}

/// Each row's (row number, status, name).
fn statuses(preview: &Value) -> Vec<(u64, String, String)> {
    preview["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

const UTF8_CSV: &str = "\u{feff}委员编号,姓名,界别,分会场,手机\r\n\
    A001,张三,经济界,第一分会场,138 1234 5678\r\n\
    A002,李四,教育界,第二分会场,\r\n\
    A003,\"王五, 博士\",医药卫生界,第一分会场,010-12345678\r\n";

/// A minimal XLSX workbook (a zip of XML parts) with one sheet: the first row as inline
/// strings, numbers as numbers (a phone typed into a cell becomes one).
fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let col = |i: usize| char::from(b'A' + i as u8);
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, cells) in rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, text) in cells.iter().enumerate() {
            let at = format!("{}{}", col(c), r + 1);
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && r > 0 {
                sheet.push_str(&format!(r#"<c r="{at}"><v>{text}</v></c>"#));
            } else {
                sheet.push_str(&format!(
                    r#"<c r="{at}" t="inlineStr"><is><t>{text}</t></is></c>"#
                ));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let parts = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_owned(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned(),
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="委员名册" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_owned(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_owned(),
        ),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in parts {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Preview, import, re-import by number, export and read the export back.
async fn import_update_and_export_round_trip(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.staff("王秘书", StaffRole::Admin).await;

    let preview = admin.preview(UTF8_CSV.as_bytes()).await;
    assert_eq!(preview["format"], "csv_utf8");
    assert_eq!(
        preview["counts"],
        json!({ "total": 3, "new": 3, "update": 0, "error": 0 })
    );
    assert_eq!(
        statuses(&preview),
        [
            (2, "new".into(), "张三".into()),
            (3, "new".into(), "李四".into()),
            (4, "new".into(), "王五, 博士".into())
        ]
    );
    assert_eq!(preview["rows"][0]["phone"], "13812345678");
    // Nothing is saved by a preview.
    assert_eq!(admin.list("").await["total"], 0);

    let (status, done) = admin.import(UTF8_CSV.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done, json!({ "added": 3, "updated": 0 }));
    let list = admin.list("").await;
    assert_eq!(names(&list), ["张三", "李四", "王五, 博士"]);
    assert_eq!(list["members"][0]["sector"], "经济界");
    assert_eq!(list["members"][0]["venue"], "第一分会场");
    assert_eq!(list["members"][0]["phone"], "13812345678");
    assert_eq!(list["members"][2]["phone"], "010-12345678");
    // Search by name, number and sector.
    assert_eq!(names(&admin.list("李").await), ["李四"]);
    assert_eq!(names(&admin.list("A003").await), ["王五, 博士"]);
    assert_eq!(names(&admin.list("经济").await), ["张三"]);

    // A new file, columns in another order and without the venue: A001 is updated (its
    // venue kept), A004 added.
    let second = "姓名,手机,编号,界别\n张三丰,13900001111,A001,科技界\n赵六,,A004,农业界\n";
    let preview = admin.preview(second.as_bytes()).await;
    assert_eq!(
        statuses(&preview),
        [
            (2, "update".into(), "张三丰".into()),
            (3, "new".into(), "赵六".into())
        ]
    );
    assert_eq!(preview["rows"][0]["current"]["name"], "张三");
    let (status, done) = admin.import(second.as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done, json!({ "added": 1, "updated": 1 }));
    let list = admin.list("A001").await;
    assert_eq!(list["total"], 1);
    let m = &list["members"][0];
    assert_eq!(
        (&m["name"], &m["sector"], &m["venue"], &m["phone"]),
        (
            &json!("张三丰"),
            &json!("科技界"),
            &json!("第一分会场"),
            &json!("13900001111")
        )
    );
    assert_eq!(admin.list("").await["total"], 4);

    // Deactivated, then exported: the export reads back as updates of everyone.
    let id = m["id"].as_i64().unwrap();
    let r = http()
        .patch(server.url(&format!("/api/v1/roster/{id}")))
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list = admin.list("").await;
    assert_eq!(list["active"], 3);
    assert_eq!(list["members"][3]["name"], "张三丰", "inactive last");

    let csv = admin.export().await;
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel and WPS");
    let text = std::str::from_utf8(&csv[3..]).unwrap();
    assert!(
        text.starts_with("委员编号,姓名,界别,分会场,手机,状态\r\n"),
        "{text}"
    );
    assert!(text.contains("A003,\"王五, 博士\",医药卫生界,第一分会场,010-12345678,在册"));
    assert!(text.contains("A001,张三丰,科技界,第一分会场,13900001111,停用"));
    let preview = admin.preview(&csv).await;
    assert_eq!(
        preview["counts"],
        json!({ "total": 4, "new": 0, "update": 4, "error": 0 })
    );
    assert_eq!(preview["ignored_columns"], json!(["状态"]));

    let audit: Vec<String> = server
        .state
        .store
        .audit_log()
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.staff, e.action, e.target))
        .collect();
    for line in [
        "王秘书 import_roster t.csv: 3 added, 0 updated",
        "王秘书 import_roster t.csv: 1 added, 1 updated",
        "王秘书 deactivate_member 张三丰 (A001)",
        "王秘书 export_roster 4 members",
    ] {
        assert!(audit.iter().any(|a| a == line), "{line} in {audit:?}");
    }
}

#[tokio::test]
async fn a_utf8_csv_is_previewed_imported_updated_by_number_and_exported() {
    import_update_and_export_round_trip(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn the_roster_round_trip_on_postgres() {
    import_update_and_export_round_trip(Backend::Postgres).await;
}

#[tokio::test]
async fn gbk_csv_and_xlsx_files_are_read() {
    let server = TestServer::start(Backend::Sqlite).await;
    let clerk = server.staff("李干事", StaffRole::Clerk).await;

    // GBK, as Excel and WPS save “CSV” on Chinese Windows, with a title row.
    let text = "某区政协第十四届委员名册,,,,\r\n姓名,界别,所属联组,委员编号,电话\r\n\
                钱七,文化艺术界,第三联组,B001,13700001234\r\n孙八,妇联,第三联组,B002,\r\n";
    let (gbk, _, bad) = encoding_rs::GBK.encode(text);
    assert!(!bad);
    assert!(std::str::from_utf8(&gbk).is_err(), "really not UTF-8");
    let preview = clerk.preview(&gbk).await;
    assert_eq!(preview["format"], "csv_gb18030");
    assert_eq!(
        statuses(&preview),
        [
            (3, "new".into(), "钱七".into()),
            (4, "new".into(), "孙八".into())
        ]
    );
    assert_eq!(preview["rows"][0]["venue"], "第三联组");
    assert_eq!(
        preview["rows"][0]["phone"], "137****1234",
        "masked to a clerk"
    );
    let (status, done) = clerk.import(&gbk).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["added"], 2);

    // XLSX, English headers, the phone and number typed as numbers; B002 updated.
    let book = xlsx(&[
        &["Name", "Sector", "Venue", "Number", "Phone"],
        &["Sun Ba", "妇联", "第四联组", "B002", "13600005678"],
        &["周九", "工商联", "第四联组", "2024001", "13500009999"],
    ]);
    let preview = clerk.preview(&book).await;
    assert_eq!(preview["format"], "spreadsheet");
    assert_eq!(
        statuses(&preview),
        [
            (2, "update".into(), "Sun Ba".into()),
            (3, "new".into(), "周九".into())
        ]
    );
    assert_eq!(preview["rows"][1]["number"], "2024001", "not 2024001.0");
    let (status, done) = clerk.import(&book).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done, json!({ "added": 1, "updated": 1 }));
    let list = clerk.list("").await;
    assert_eq!(names(&list), ["周九", "钱七", "Sun Ba"], "by number");
    assert_eq!(list["members"][2]["phone"], "136****5678");
    let stored = server.state.store.list_members(Some("B002")).await.unwrap();
    assert_eq!(stored[0].phone, "13600005678");

    // A clerk's export masks phones; read back, a masked phone keeps the stored one.
    let csv = clerk.export().await;
    let text = std::str::from_utf8(&csv).unwrap();
    assert!(text.contains("B001,钱七,文化艺术界,第三联组,137****1234,在册"));
    let (status, done) = clerk.import(&csv).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done, json!({ "added": 0, "updated": 3 }));
    let stored = server.state.store.list_members(Some("B001")).await.unwrap();
    assert_eq!(stored[0].phone, "13700001234");
}

#[tokio::test]
async fn a_bad_row_is_reported_with_its_row_number_and_nothing_is_saved() {
    let server = TestServer::start(Backend::Sqlite).await;
    let clerk = server.staff("李干事", StaffRole::Clerk).await;
    let file = "姓名,编号,手机\n甲,C1,13811112222\n,C2,\n丙,C3,12345\n丁,C1,\n戊,C5,138****1111\n";
    let preview = clerk.preview(file.as_bytes()).await;
    assert_eq!(
        preview["counts"],
        json!({ "total": 5, "new": 1, "update": 0, "error": 4 })
    );
    let rows = preview["rows"].as_array().unwrap();
    let codes = |i: usize| -> Vec<(u64, String)> {
        rows[i]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    rows[i]["row"].as_u64().unwrap(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(codes(1), [(3, "name_missing".to_owned())]);
    assert_eq!(codes(2), [(4, "phone_invalid".to_owned())]);
    assert_eq!(codes(3), [(5, "number_duplicate".to_owned())]);
    assert_eq!(
        rows[3]["errors"][0]["row"], 2,
        "the first row with that number"
    );
    assert_eq!(codes(4), [(6, "phone_masked".to_owned())]);
    assert!(
        rows[1]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("name")
    );

    let (status, body) = clerk.import(file.as_bytes()).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "roster_has_errors")
    );
    assert_eq!(clerk.list("").await["total"], 0, "nothing saved");
    assert!(
        !server
            .state
            .store
            .audit_log()
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "import_roster")
    );

    // Whole-file problems.
    for (file, code) in [
        (&b"a,b\n1,2\n"[..], "roster_no_name_column"),
        (b"\xEF\xBB\xBF", "roster_empty"),
        (b"name,phone\n", "roster_empty"),
        (b"PK\x03\x04 not a spreadsheet", "roster_unreadable"),
    ] {
        let (status, body) = clerk.upload("/api/v1/roster/import/preview", file).await;
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, code)
        );
    }
    let big = vec![b'a'; 2 * 1024 * 1024 + 1];
    let (status, body) = clerk.upload("/api/v1/roster/import/preview", &big).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
}

#[tokio::test]
async fn the_roster_needs_a_session_with_its_csrf_token_or_the_admin_key() {
    let server = TestServer::start(Backend::Sqlite).await;
    let clerk = server.staff("李干事", StaffRole::Clerk).await;
    let file = UTF8_CSV.as_bytes().to_vec();
    let code = |r: reqwest::Response| async move {
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, body["code"].as_str().unwrap_or("").to_owned())
    };
    for path in ["/api/v1/roster", "/api/v1/roster/export?format=csv"] {
        let r = http().get(server.url(path)).send().await.unwrap();
        assert_eq!(
            code(r).await,
            (StatusCode::UNAUTHORIZED, "unauthorized".into())
        );
    }
    for path in ["/api/v1/roster/import/preview", "/api/v1/roster/import"] {
        let r = http()
            .post(server.url(path))
            .body(file.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            code(r).await,
            (StatusCode::UNAUTHORIZED, "unauthorized".into())
        );
        // A session without its CSRF token: refused before the file is read.
        let r = http()
            .post(server.url(path))
            .header("cookie", &clerk.cookie)
            .body(file.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (StatusCode::FORBIDDEN, "csrf".into()));
        let r = http()
            .post(server.url(path))
            .header("authorization", "Bearer wrong")
            .body(file.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            code(r).await,
            (StatusCode::UNAUTHORIZED, "unauthorized".into())
        );
    }
    assert_eq!(clerk.list("").await["total"], 0);

    // The admin key imports, and sees whole phones.
    let r = http()
        .post(server.url("/api/v1/roster/import"))
        .bearer_auth(server.admin_key())
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = http()
        .get(server.url("/api/v1/roster?q=张三"))
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["members"][0]["phone"], "13812345678");
    assert_eq!(
        clerk.list("张三").await["members"][0]["phone"],
        "138****5678"
    );
}

/// Two imports of the same new members at the same moment: one adds them, the other
/// updates them; neither fails on the unique member number.
async fn concurrent_imports(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.staff("王秘书", StaffRole::Admin).await;
    let file = UTF8_CSV.as_bytes();
    let (a, b) = tokio::join!(admin.import(file), admin.import(file));
    assert_eq!(
        (a.0, b.0),
        (StatusCode::OK, StatusCode::OK),
        "{} {}",
        a.1,
        b.1
    );
    let mut done = [a.1, b.1];
    done.sort_by_key(|d| d["added"].as_u64());
    assert_eq!(
        done,
        [
            json!({ "added": 0, "updated": 3 }),
            json!({ "added": 3, "updated": 0 })
        ]
    );
    assert_eq!(admin.list("").await["total"], 3);
}

#[tokio::test]
async fn concurrent_imports_on_sqlite_add_once() {
    concurrent_imports(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn concurrent_imports_on_postgres_add_once() {
    concurrent_imports(Backend::Postgres).await;
}

#[tokio::test]
async fn a_file_of_the_most_rows_is_imported_and_one_more_row_is_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let clerk = server.staff("李干事", StaffRole::Clerk).await;
    let mut file = String::from("委员编号,姓名,界别,分会场,手机\n");
    for i in 0..10_000 {
        file.push_str(&format!(
            "N{i:05},委员{i},界别{},第{}分会场,139{i:08}\n",
            i % 34,
            i % 7
        ));
    }
    assert!(file.len() > 500_000 && file.len() < 2 * 1024 * 1024);
    let started = std::time::Instant::now();
    let (status, done) = clerk.import(file.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done, json!({ "added": 10_000, "updated": 0 }));
    eprintln!("10,000 rows imported in {:?}", started.elapsed());
    assert_eq!(clerk.list("委员9999").await["total"], 1);

    file.push_str("N10000,多一行,,,\n");
    let (status, body) = clerk
        .upload("/api/v1/roster/import/preview", file.as_bytes())
        .await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "roster_too_many_rows")
    );
}
