//! The `yishi` binary, run for real: `token`, `room`, `record export` and `record verify`.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use yishi::auth::{self, Keys};
use yishi::room::Chain;
use yishi::store::{Append, Store};
use yishi_protocol::{Event, EventBody, Millis, ParticipantId, RecordEntry, Role};

const KEYS: &str = "k1:cli-test-secret-0123456789";

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "yishi-cli-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with no `YISHI_*` variable from the outside and its data dir in `data`.
fn yishi(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yishi"));
    for (key, _) in std::env::vars() {
        if key.starts_with("YISHI_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("YISHI_DATA_DIR", data).env("RUST_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code(),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

fn now() -> Millis {
    Millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    )
}

/// The token in a join link `<public_url>/join#room=<room>&token=<jwt>`.
fn token_of(link: &str, public_url: &str, room: &str) -> String {
    let prefix = format!("{public_url}/join#room={room}&token=");
    assert!(
        link.starts_with(&prefix),
        "{link:?} does not start with {prefix:?}"
    );
    link[prefix.len()..].trim().to_owned()
}

#[test]
fn token_prints_a_link_whose_token_verifies_with_the_same_keys() {
    let data = TempDir::new("token");
    let (code, out, err) = run(yishi(&data.0).env("YISHI_TOKEN_KEYS", KEYS).args([
        "token",
        "--room",
        "r1",
        "--role",
        "member",
        "--name",
        "张三",
        "--sector",
        "经济界",
        "--ttl",
        "2h",
    ]));
    assert_eq!(code, Some(0), "{err}");
    let token = token_of(&out, "http://127.0.0.1:8080", "r1");
    let keys = Keys::parse_list(KEYS).unwrap();
    let p = keys.verify(&token, "r1", now()).unwrap();
    assert_eq!(p.name, "张三");
    assert_eq!(p.role, Role::Member);
    assert_eq!(p.sector.as_deref(), Some("经济界"));
    assert_eq!(p.grants, Role::Member.default_grants());
    assert!(p.id.0.starts_with("p-"), "{}", p.id.0);
    // Valid for two hours, not more.
    let claims = keys.decode(&token, now()).unwrap();
    assert_eq!(claims.exp - claims.iat, 7200);
    // For another room, refused.
    assert!(keys.verify(&token, "r2", now()).is_err());
}

#[test]
fn token_takes_the_public_url_an_id_and_grants_and_makes_anonymous_audience_links() {
    let data = TempDir::new("token-flags");
    let (code, out, err) = run(yishi(&data.0).env("YISHI_TOKEN_KEYS", KEYS).args([
        "token",
        "--room",
        "r1",
        "--role",
        "venue",
        "--name",
        "东城分会场",
        "--id",
        "v-dongcheng",
        "--venue",
        "东城",
        "--grants",
        "join,request_floor",
        "--public-url",
        "https://yishi.example.org/",
    ]));
    assert_eq!(code, Some(0), "{err}");
    let keys = Keys::parse_list(KEYS).unwrap();
    let p = keys
        .verify(
            &token_of(&out, "https://yishi.example.org", "r1"),
            "r1",
            now(),
        )
        .unwrap();
    assert_eq!(p.id, ParticipantId::new("v-dongcheng"));
    assert_eq!(p.venue.as_deref(), Some("东城"));
    assert_eq!(
        p.grants,
        [
            yishi_protocol::Grant::Join,
            yishi_protocol::Grant::RequestFloor
        ]
    );

    let (code, out, err) = run(yishi(&data.0)
        .env("YISHI_TOKEN_KEYS", KEYS)
        .args(["token", "--room", "r1", "--role", "audience"]));
    assert_eq!(code, Some(0), "{err}");
    let p = keys
        .verify(&token_of(&out, "http://127.0.0.1:8080", "r1"), "r1", now())
        .unwrap();
    assert!(auth::is_anonymous(&p));

    // A member needs a name.
    let (code, _, err) = run(yishi(&data.0)
        .env("YISHI_TOKEN_KEYS", KEYS)
        .args(["token", "--room", "r1", "--role", "member"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("--name"), "{err}");
}

#[test]
fn without_configured_keys_the_generated_key_is_kept_in_the_data_dir() {
    let data = TempDir::new("token-generated");
    let args = [
        "token",
        "--room",
        "r1",
        "--role",
        "host",
        "--name",
        "主持人",
        "--raw",
    ];
    let (code, first, err) = run(yishi(&data.0).args(args));
    assert_eq!(code, Some(0), "{err}");
    let (code, second, err) = run(yishi(&data.0).args(args));
    assert_eq!(code, Some(0), "{err}");
    let stored = std::fs::read_to_string(data.0.join("token-key")).unwrap();
    let keys = Keys::parse_list(&stored).unwrap();
    for token in [first.trim(), second.trim()] {
        assert_eq!(keys.verify(token, "r1", now()).unwrap().role, Role::Host);
    }
}

fn write_record(path: &Path, n: u32) -> Vec<RecordEntry> {
    let mut chain = Chain::default();
    let entries: Vec<RecordEntry> = (1..=n)
        .map(|seq| {
            chain.seal(Event {
                seq,
                at: Millis(1_750_000_000_000 + 1_000 * u64::from(seq)),
                actor: Some(ParticipantId::new("m1")),
                body: EventBody::Annotated {
                    text: format!("第{seq}条纪要"),
                },
            })
        })
        .collect();
    let lines: String = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(path, lines).unwrap();
    entries
}

#[test]
fn record_verify_passes_an_intact_record_and_names_the_first_altered_entry() {
    let data = TempDir::new("record");
    let file = data.0.join("record.jsonl");
    let entries = write_record(&file, 5);
    let final_hash = &entries[4].hash;

    let (code, out, err) = run(yishi(&data.0).args(["record", "verify"]).arg(&file));
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        out.trim(),
        format!("ok: 5 entries, final hash {final_hash}")
    );

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("第3条纪要"));
    std::fs::write(&file, text.replace("第3条纪要", "第3条纪要（已改）")).unwrap();
    let (code, out, err) = run(yishi(&data.0).args(["record", "verify"]).arg(&file));
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.starts_with("tampered: "), "{out}");
    assert!(out.contains("entry 3 "), "{out}");
}

#[test]
fn record_verify_exits_2_on_a_file_it_cannot_read() {
    let data = TempDir::new("record-bad");
    let file = data.0.join("record.jsonl");
    std::fs::write(&file, "not json\n").unwrap();
    let (code, _, err) = run(yishi(&data.0).args(["record", "verify"]).arg(&file));
    assert_eq!(code, Some(2));
    assert!(err.contains("line 1"), "{err}");

    let dir = data.0.join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let (code, _, _) = run(yishi(&data.0).args(["record", "verify"]).arg(&dir));
    assert_eq!(code, Some(2));
}

fn entries(n: u32) -> Vec<RecordEntry> {
    let mut chain = Chain::default();
    (1..=n)
        .map(|seq| {
            chain.seal(Event {
                seq,
                at: Millis(1_750_000_000_000 + 1_000 * u64::from(seq)),
                actor: Some(ParticipantId::new("m1")),
                body: EventBody::Annotated {
                    text: format!("note {seq}"),
                },
            })
        })
        .collect()
}

#[tokio::test]
async fn rooms_are_created_listed_exported_verified_and_closed_through_the_store() {
    let data = TempDir::new("store");
    let url = format!("sqlite://{}/yishi.db", data.0.display());
    let cli = || {
        let mut cmd = yishi(&data.0);
        cmd.env("YISHI_DATABASE", &url);
        cmd
    };

    // No database yet: reading commands refuse rather than create one.
    let (code, _, err) = run(cli().args(["room", "list"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("no database"), "{err}");
    assert!(!data.0.join("yishi.db").exists());

    let (code, out, err) =
        run(cli().args(["room", "create", "--title", "城市更新协商", "--id", "r1"]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "r1");
    let (code, out, err) =
        run(cli().args(["room", "create", "--title", "委员讲堂", "--kind", "lecture"]));
    assert_eq!(code, Some(0), "{err}");
    let lecture = out.trim().to_owned();
    assert!(lecture.starts_with("r-"), "{lecture}");
    let (code, _, _) = run(cli().args(["room", "create", "--title", "again", "--id", "r1"]));
    assert_eq!(code, Some(2));

    let record = entries(4);
    let store = Store::open(&url).await.unwrap();
    store
        .append(&[Append {
            room: "r1".into(),
            epoch: Default::default(),
            entries: record.clone(),
            requests: vec![],
            sealed: vec![],
        }])
        .await
        .unwrap();

    let (code, out, err) = run(cli().args(["room", "list"]));
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        out.contains("r1\tconsultation\t城市更新协商\topen"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{lecture}\tlecture\t委员讲堂\topen")),
        "{out}"
    );

    // Export gives the record back, line for line; the file verifies.
    let (code, out, err) = run(cli().args(["record", "export", "r1"]));
    assert_eq!(code, Some(0), "{err}");
    let exported: Vec<RecordEntry> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported, record);
    let file = data.0.join("r1.jsonl");
    std::fs::write(&file, &out).unwrap();
    let (code, out, _) = run(cli().args(["record", "verify"]).arg(&file));
    assert_eq!(code, Some(0));
    assert!(out.contains(&record[3].hash));

    // Verify by room id.
    let (code, out, err) = run(cli().args(["record", "verify", "r1"]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        format!("ok: 4 entries, final hash {}", record[3].hash)
    );

    // Close publishes the last hash.
    let (code, out, err) = run(cli().args(["room", "close", "r1"]));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&record[3].hash), "{out}");
    let (_, out, _) = run(cli().args(["room", "list"]));
    assert!(
        out.contains(&format!(
            "r1\tconsultation\t城市更新协商\tclosed {}",
            record[3].hash
        )),
        "{out}"
    );
    let (code, _, _) = run(cli().args(["room", "close", "r1"]));
    assert_eq!(code, Some(2));

    // Someone edits an entry in the database: verify names it.
    sqlx::query("UPDATE events SET body = $1 WHERE room_id = 'r1' AND seq = 2")
        .bind(r#"{"type":"annotated","text":"rewritten"}"#)
        .execute(&sqlx::SqlitePool::connect(&url).await.unwrap())
        .await
        .unwrap();
    let (code, out, err) = run(cli().args(["record", "verify", "r1"]));
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.starts_with("tampered: ") && out.contains("entry 2 "),
        "{out}"
    );

    // Neither a file nor a room.
    let (code, _, err) = run(cli().args(["record", "verify", "nope"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("nope"), "{err}");
    store.close().await;
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_new_data_directory_and_its_files_are_the_owners_alone() {
    let base = TempDir::new("modes");
    let data = base.0.join("data");
    let database = format!("sqlite://{}/yishi.db", data.display());
    let (code, _, err) = run(yishi(&data).args([
        "--database",
        &database,
        "room",
        "create",
        "--id",
        "r1",
        "--title",
        "权限",
    ]));
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(yishi(&data).args(["token", "--room", "r1", "--role", "audience"]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(mode(&data), 0o700, "the data directory");
    for file in ["yishi.db", "token-key", "admin-key"] {
        if file != "admin-key" || data.join(file).exists() {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }
    for file in ["yishi.db-wal", "yishi.db-shm"] {
        if data.join(file).exists() {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }
    // A database another tool left readable by all is tightened when opened.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        data.join("yishi.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, _, err) = run(yishi(&data).args(["--database", &database, "room", "list"]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(mode(&data.join("yishi.db")), 0o600);
}

/// The Python verifier in docs/protocol.md, as an outside party would run it.
fn verifier_from_the_docs() -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md"))
            .unwrap();
    let start = doc
        .find("```python verify\n")
        .expect("the verifier in the docs")
        + 17;
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].to_owned()
}

#[test]
fn the_verifier_in_the_protocol_doc_recomputes_the_chain_of_a_real_record() {
    let mut chain = Chain::default();
    // Text that tests the canonical form: Chinese, quotes, a backslash, a line break,
    // an emoji, and an event without an actor.
    let texts = [
        "第一项：\"老旧小区\"改造",
        "路径 C:\\data\n第二行",
        "👍 同意",
        "end",
    ];
    let mut record: Vec<RecordEntry> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            chain.seal(Event {
                seq: i as u32 + 1,
                at: Millis(1_750_000_000_000 + i as u64),
                actor: Some(ParticipantId::new("rec")),
                body: EventBody::Annotated {
                    text: (*text).to_owned(),
                },
            })
        })
        .collect();
    record.push(chain.seal(Event {
        seq: 5,
        at: Millis(1_750_000_001_000),
        actor: None,
        body: EventBody::SessionChanged {
            state: yishi_protocol::SessionState::Closed,
        },
    }));
    let lines: String = record
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    let run_python = |input: &str| {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(verifier_from_the_docs())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, out, err) = run_python(&lines);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        record[4].hash,
        "the same final hash as the server's"
    );
    // A changed character is caught.
    let tampered = lines.replacen("同意", "反对", 1);
    let (code, _, err) = run_python(&tampered);
    assert_ne!(code, Some(0));
    assert!(err.contains("entry 3"), "{err}");
}

#[test]
fn a_cluster_node_refuses_sqlite_and_wants_a_name() {
    let dir = TempDir::new("cluster");
    let keys = [
        "--token-keys",
        KEYS,
        "--admin-key",
        "cluster-test-admin-key-0123",
    ];

    // The default database is SQLite: refused, saying what to give instead.
    let (code, _, err) = run(yishi(&dir.0)
        .args([
            "serve",
            "--cluster",
            "nats://127.0.0.1:4222",
            "--node-id",
            "n1",
        ])
        .args(keys));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(err.contains("--database postgres://"), "{err}");

    // The same through the environment.
    let (code, _, err) = run(yishi(&dir.0)
        .env("YISHI_CLUSTER", "nats://127.0.0.1:4222")
        .env("YISHI_NODE_ID", "n1")
        .env("YISHI_DATABASE", "sqlite://./elsewhere.db")
        .args(["serve"])
        .args(keys));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");

    // A node needs a name, a valid one, and a NATS URL.
    let pg = ["--database", "postgres://nobody@127.0.0.1:1/none"];
    let (code, _, err) = run(yishi(&dir.0)
        .args(["serve", "--cluster", "nats://127.0.0.1:4222"])
        .args(pg)
        .args(keys));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--node-id"), "{err}");
    let (code, _, err) = run(yishi(&dir.0)
        .args([
            "serve",
            "--cluster",
            "nats://127.0.0.1:4222",
            "--node-id",
            "节点 1",
        ])
        .args(pg)
        .args(keys));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("node id"), "{err}");
    let (code, _, err) = run(yishi(&dir.0)
        .args([
            "serve",
            "--cluster",
            "http://127.0.0.1:4222",
            "--node-id",
            "n1",
        ])
        .args(pg)
        .args(keys));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nats://"), "{err}");

    // A node id without a cluster is a mistake, not ignored.
    let (code, _, err) = run(yishi(&dir.0).args(["serve", "--node-id", "n1"]).args(keys));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--cluster"), "{err}");

    // Keys made up by each node would refuse the other nodes' links.
    let (code, _, err) = run(yishi(&dir.0)
        .args([
            "serve",
            "--cluster",
            "nats://127.0.0.1:4222",
            "--node-id",
            "n1",
        ])
        .args(pg)
        .args(&keys[2..]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--token-keys"), "{err}");
    assert!(
        !dir.0.join(yishi::config::TOKEN_KEY_FILE).exists(),
        "no key is generated for a refused node"
    );
}

#[test]
fn hub_settings_come_from_the_environment_and_bad_ones_stop_the_start() {
    let dir = TempDir::new("hub-env");
    let db = format!("sqlite://{}", dir.0.join("yishi.db").display());
    let serve = [
        "serve",
        "--no-media",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &db,
    ];

    // Out of range: refused at start, naming the flag and its variable.
    let (code, _, err) = run(yishi(&dir.0)
        .env("YISHI_COMMANDS_PER_SECOND", "0")
        .args(serve));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "--commands-per-second (YISHI_COMMANDS_PER_SECOND) must be from 1 to 10000, not 0"
        ),
        "{err}"
    );
    let (code, _, err) = run(yishi(&dir.0)
        .env("YISHI_MEMBER_QUEUE", "5000000")
        .args(serve));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--member-queue"), "{err}");
    // Not a number: refused by the parser, naming the flag.
    let (code, _, err) = run(yishi(&dir.0)
        .env("YISHI_TALLY_INTERVAL_MS", "often")
        .args(serve));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--tally-interval-ms"), "{err}");

    // Taken: the start-up line shows the hub's settings.
    let mut child = yishi(&dir.0)
        .env("RUST_LOG", "info")
        .env("YISHI_COMMANDS_PER_SECOND", "7")
        .env("YISHI_JOINS_PER_IP", "9")
        .env("YISHI_TALLY_INTERVAL_MS", "250")
        .args(serve)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let line = stderr
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("starting yishi"));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("a start-up line");
    assert!(line.contains("commands_per_second: 7,"), "{line}");
    assert!(line.contains("joins_per_ip: 9,"), "{line}");
    assert!(line.contains("tally_interval_ms: 250,"), "{line}");
    assert!(line.contains("member_queue: 512,"), "{line}");
}
