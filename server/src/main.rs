//! The `yishi` binary: run the server, mint join links, manage rooms, check records,
//! write minutes and participation reports.
//!
//! Exit codes: 0 success; 1 a record that does not verify; 2 anything that could not be
//! done (bad flags, unreadable file, store unreachable).

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use yishi::apikeys;
use yishi::auth::{self, Claims};
use yishi::config::{self, Config, ConfigArgs, ServeArgs};
use yishi::minutes::{Minutes, to_docx, to_markdown, to_pdf};
use yishi::participation::{Rules, Table};
use yishi::reports;
use yishi::room::{GENESIS, verify_chain};
use yishi::staff::{self, StaffRole};
use yishi::statistics::StatTable;
use yishi::store::{NewRoom, RoomKind, Store};
use yishi_protocol::{Grant, Millis, Participant, ParticipantId, RecordEntry, Role};

#[derive(Debug, Parser)]
#[command(
    name = "yishi",
    version,
    about = "Yishi (议事): real-time remote consultation server"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Print a join link for a room, signed with the server's token key.
    Token(TokenArgs),
    /// Create, list and close rooms.
    #[command(subcommand)]
    Room(RoomCommand),
    /// Export and verify a room's hash-chained record.
    #[command(subcommand)]
    Record(RecordCommand),
    /// Minutes (会议纪要) of a room, made from its record: Markdown, Word (.docx) or PDF.
    Minutes(MinutesArgs),
    /// Staff accounts of the committee office (会务组) for the console.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Reports made from the records: participation records (履职档案) and statistics
    /// (统计).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Scoped API keys for the committee's own systems (履职平台, a messaging gateway).
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// The board (码上议事) in the store.
    #[command(subcommand)]
    Board(BoardCommand),
}

#[derive(Debug, Subcommand)]
enum BoardCommand {
    /// Fill the board for a load test or a demonstration: published topics (a fifth of
    /// them moved on through the stages) and supports by generated residents, decided
    /// by the board's engine and appended to its hash-chained record (with the search
    /// index) in large transactions, after what the record already holds. Run it on a
    /// store no server is writing to.
    Seed {
        /// Published topics to add.
        #[arg(long, default_value_t = 1000)]
        topics: u32,
        /// Supports to add, spread over the new topics still collecting or selecting.
        #[arg(long, default_value_t = 0)]
        supports: u32,
        /// Residents who give them, each supporting distinct topics [default: one per
        /// five supports].
        #[arg(long)]
        residents: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum ApikeyCommand {
    /// Make a key and print its secret, once: it is not kept and cannot be shown again.
    Add {
        /// What the key is for, e.g. 履职平台 (unique).
        name: String,
        /// What it may do, once per scope: meetings:read, meetings:write, roster:read,
        /// roster:write, reports:read, board:read, board:moderate, webhooks:manage.
        #[arg(long = "scope", required = true, value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Days until it expires [default: never].
        #[arg(long, value_name = "DAYS")]
        expires: Option<u32>,
    },
    /// List the keys: id, name, scopes, who made it, when, last use, expiry, revocation.
    List,
    /// Revoke a key (by id or name): it is refused from then on.
    Revoke {
        /// The key's id or name.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Each roster member's participation over a period, with credit points by the
    /// rules of --participation-rules (default: the built-in version 1).
    Participation(ParticipationArgs),
    /// Attendance and speaking time over a period, per meeting, sector (界别) and
    /// member, as the console's 统计 charts show them.
    Statistics(StatisticsArgs),
}

#[derive(Debug, clap::Args)]
struct StatisticsArgs {
    /// First day, YYYY-MM-DD (Beijing time).
    #[arg(long)]
    from: String,
    /// Last day, YYYY-MM-DD, included.
    #[arg(long)]
    to: String,
    /// csv (one table) or json (every figure, as the API serves it).
    #[arg(long, value_enum, default_value = "csv")]
    format: StatisticsFormat,
    /// For CSV: meetings, sectors or members.
    #[arg(long, value_enum, default_value = "meetings")]
    table: StatisticsTable,
    /// The file to write [default: standard output].
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatisticsFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatisticsTable {
    Meetings,
    Sectors,
    Members,
}

#[derive(Debug, clap::Args)]
struct ParticipationArgs {
    /// First day, YYYY-MM-DD (Beijing time).
    #[arg(long)]
    from: String,
    /// Last day, YYYY-MM-DD, included.
    #[arg(long)]
    to: String,
    /// csv (one table), xlsx (both tables and what the report covers) or pdf (one
    /// member per page, 一人一档; font: --pdf-font).
    #[arg(long, value_enum, default_value = "csv")]
    format: ReportFormat,
    /// For CSV: members (one row per member) or points (one row per point, with the
    /// event it came from).
    #[arg(long, value_enum, default_value = "members")]
    table: ReportTable,
    /// The file to write [default: standard output].
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Csv,
    Xlsx,
    Pdf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportTable {
    Members,
    Points,
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Add a staff account and print a one-time link to set its password (valid 72
    /// hours). For an existing account: a new link, which resets its password.
    Add {
        /// The name the person logs in with.
        name: String,
        /// admin (everything, staff accounts included) or clerk (meetings, rosters,
        /// reports).
        #[arg(long, value_enum)]
        role: StaffRole,
    },
}

#[derive(Debug, clap::Args)]
struct MinutesArgs {
    /// Room id.
    room: String,
    /// md (Markdown), docx (Word, WPS, LibreOffice) or pdf (font: --pdf-font).
    #[arg(long, value_enum, default_value = "md")]
    format: MinutesFormat,
    /// The file to write [default: standard output].
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MinutesFormat {
    Md,
    Docx,
    Pdf,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// Room id the link admits to.
    #[arg(long)]
    room: String,
    /// host, member, respondent, venue, observer, recorder or audience.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// Display name [required except for an anonymous audience link].
    #[arg(long)]
    name: Option<String>,
    /// Participant id [default: random; for `--role audience`, an anonymous link that
    /// gives each viewer an identity of their own].
    #[arg(long)]
    id: Option<String>,
    /// Sector (界别), for rotation and time accounting.
    #[arg(long)]
    sector: Option<String>,
    /// Venue (会场), for rotation and time accounting.
    #[arg(long)]
    venue: Option<String>,
    /// Grants instead of the role's defaults, comma-separated (e.g. join,chat).
    #[arg(long, value_delimiter = ',', value_parser = parse_grant)]
    grants: Vec<Grant>,
    /// How long the link is valid: 90s, 30m, 2h, 7d, 1h30m.
    #[arg(long, default_value = "12h", value_parser = config::parse_duration)]
    ttl: Duration,
    /// Print only the token, not the link.
    #[arg(long)]
    raw: bool,
}

#[derive(Debug, Subcommand)]
enum RoomCommand {
    /// Create a room and print its id.
    Create {
        /// Title shown to participants.
        #[arg(long)]
        title: String,
        /// consultation or lecture.
        #[arg(long, default_value = "consultation", value_parser = parse_kind)]
        kind: RoomKind,
        /// Room id [default: random].
        #[arg(long)]
        id: Option<String>,
    },
    /// List rooms.
    List,
    /// Close a room: its record becomes final and its last hash is published. For a room
    /// the server is running, close the session from the host's view instead; this is for
    /// rooms no server holds.
    Close {
        /// Room id.
        room: String,
    },
}

#[derive(Debug, Subcommand)]
enum RecordCommand {
    /// Print a room's record as JSON lines.
    Export {
        /// Room id.
        room: String,
    },
    /// Check a record's hash chain: a JSON-lines file, or a room id read from the store.
    /// Exits 0 if intact, 1 naming the first broken entry, 2 if it cannot be read.
    Verify {
        /// A JSON-lines file (as `record export` writes), or a room id.
        source: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `RUST_LOG` (default `info`), with the libraries that would log what clients send
/// capped at `info` whatever it says: at `debug` and `trace` they print WebSocket frames
/// (join tokens, ballots, chat), request heads and session descriptions (ICE
/// credentials). Our own code never logs a frame's content at any level.
fn log_filter() -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for quiet in [
        "tungstenite=info",
        "tokio_tungstenite=info",
        "axum=info",
        "hyper=info",
        "hyper_util=info",
        "str0m=info",
        "sqlx=info",
    ] {
        if let Ok(directive) = quiet.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(serve) => {
            let config = Config::resolve(&cli.config, &serve)?;
            tracing::info!(
                listen = %config.http.listen,
                public_url = %config.http.public_url,
                database = %config.store.database,
                token_keys = %config.auth.token_keys_source,
                current_kid = config.auth.token_keys.current_kid(),
                admin_key = %config.auth.admin_key_source,
                demo = config.demo,
                hub = ?config.hub,
                "starting yishi {}",
                env!("CARGO_PKG_VERSION")
            );
            runtime()?.block_on(yishi::serve(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(args) => {
            let config = Config::resolve(&cli.config, &ServeArgs::default())?;
            let token = mint(&config, &args)?;
            if args.raw {
                println!("{token}");
            } else {
                println!("{}", config.join_link(&args.room, &token));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Room(command) => {
            let database = Config::resolve_database(&cli.config)?;
            runtime()?.block_on(room(&database, command))
        }
        Command::Staff(StaffCommand::Add { name, role }) => {
            let config = Config::resolve(&cli.config, &ServeArgs::default())?;
            runtime()?.block_on(async {
                let store = Store::open(&config.store.database).await.with_context(|| {
                    format!("cannot open the store at {}", config.store.database)
                })?;
                let secret = staff::invite(&store, &name, role, now().0 as i64).await?;
                println!(
                    "{}",
                    staff::set_password_link(&config.http.public_url, &secret)
                );
                anyhow::Ok(ExitCode::SUCCESS)
            })
        }
        Command::Apikey(command) => {
            let database = Config::resolve_database(&cli.config)?;
            runtime()?.block_on(apikey(&database, command))
        }
        Command::Record(RecordCommand::Export { room }) => {
            let database = Config::resolve_database(&cli.config)?;
            runtime()?.block_on(export(&database, &room))
        }
        Command::Minutes(args) => {
            let database = Config::resolve_database(&cli.config)?;
            let pdf = Config::resolve_pdf(&cli.config)?;
            runtime()?.block_on(minutes(&database, &pdf, &args))
        }
        Command::Report(ReportCommand::Participation(args)) => {
            let database = Config::resolve_database(&cli.config)?;
            let rules = Config::resolve_rules(&cli.config)?;
            let pdf = Config::resolve_pdf(&cli.config)?;
            runtime()?.block_on(participation(&database, &rules, &pdf, &args))
        }
        Command::Report(ReportCommand::Statistics(args)) => {
            let database = Config::resolve_database(&cli.config)?;
            runtime()?.block_on(statistics(&database, &args))
        }
        Command::Board(BoardCommand::Seed {
            topics,
            supports,
            residents,
        }) => {
            let database = Config::resolve_database(&cli.config)?;
            let residents = residents.unwrap_or(supports.div_ceil(5)).max(1);
            runtime()?.block_on(board_seed(&database, topics, supports, residents))
        }
        Command::Record(RecordCommand::Verify { source }) => {
            let path = Path::new(&source);
            if path.exists() {
                return Ok(verify_file(path));
            }
            let database = Config::resolve_database(&cli.config)?;
            if existing_store(&database).is_err() {
                bail!("no file {source:?}, and no database to look up a room of that id in");
            }
            runtime()?.block_on(verify_room(&database, &source))
        }
    }
}

/// Open the store at `database`, refusing to create an SQLite file that is not there
/// (only `room create` may create the database).
async fn open_existing(database: &str) -> anyhow::Result<Store> {
    existing_store(database)?;
    Store::open(database)
        .await
        .with_context(|| format!("cannot open the store at {database}"))
}

fn existing_store(database: &str) -> anyhow::Result<()> {
    if let Some(path) = config::sqlite_path(database)
        && !path.exists()
    {
        bail!("no database at {} (create a room first)", path.display());
    }
    Ok(())
}

async fn room(database: &str, command: RoomCommand) -> anyhow::Result<ExitCode> {
    match command {
        RoomCommand::Create { title, kind, id } => {
            let store = Store::open(database)
                .await
                .with_context(|| format!("cannot open the store at {database}"))?;
            let id =
                id.unwrap_or_else(|| format!("r-{}", auth::random_base32(&mut rand::rng(), 10)));
            store
                .create_room(&NewRoom {
                    id: id.clone(),
                    title,
                    kind,
                    created_at: now(),
                    settings: serde_json::json!({}),
                })
                .await?;
            store.close().await;
            println!("{id}");
        }
        RoomCommand::List => {
            let store = open_existing(database).await?;
            for room in store.list_rooms().await? {
                let state = match &room.final_hash {
                    Some(hash) => format!("closed {hash}"),
                    None => "open".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{state}",
                    room.id,
                    room.kind.as_str(),
                    room.title
                );
            }
            store.close().await;
        }
        RoomCommand::Close { room } => {
            let store = open_existing(database).await?;
            let head = store
                .head(&room)
                .await?
                .map(|(_, hash)| hash)
                .unwrap_or_else(|| GENESIS.to_owned());
            store.close_room(&room, &head, now()).await?;
            store.close().await;
            println!("closed {room}: final hash {head}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `record export ROOM`: the room's record as JSON lines on stdout.
async fn export(database: &str, room: &str) -> anyhow::Result<ExitCode> {
    let store = open_existing(database).await?;
    if store.room(room).await?.is_none() {
        bail!("no room {room:?}");
    }
    let loaded = store.load(room).await?;
    store.close().await;
    let mut out = std::io::stdout().lock();
    for entry in &loaded.entries {
        serde_json::to_writer(&mut out, entry)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `minutes ROOM`: the minutes made from the room's record, to a file or standard output.
async fn minutes(
    database: &str,
    pdf: &yishi::pdf::Settings,
    args: &MinutesArgs,
) -> anyhow::Result<ExitCode> {
    if args.format != MinutesFormat::Md && args.output.is_none() && std::io::stdout().is_terminal()
    {
        bail!("a .docx or .pdf is binary: give -o FILE, or redirect standard output");
    }
    let store = open_existing(database).await?;
    let Some(room) = store.room(&args.room).await? else {
        bail!("no room {:?}", args.room);
    };
    let loaded = store.load(&args.room).await?;
    store.close().await;
    let minutes = Minutes::build(&room, &loaded.entries);
    let bytes = match args.format {
        MinutesFormat::Md => to_markdown(&minutes).into_bytes(),
        MinutesFormat::Docx => to_docx(&minutes).context("cannot write the document")?,
        MinutesFormat::Pdf => to_pdf(&minutes, pdf)?,
    };
    match &args.output {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    if !minutes.verification.intact() {
        eprintln!(
            "warning: the record of {} does not verify; the minutes say so (记录核验)",
            args.room
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `report participation`: the roster's participation records over a period, as the API
/// serves them, to a file or standard output.
async fn participation(
    database: &str,
    rules: &Rules,
    pdf: &yishi::pdf::Settings,
    args: &ParticipationArgs,
) -> anyhow::Result<ExitCode> {
    let period = reports::period(&args.from, &args.to)?;
    let format = match args.format {
        ReportFormat::Csv => reports::Format::Csv,
        ReportFormat::Xlsx => reports::Format::Xlsx,
        ReportFormat::Pdf => reports::Format::Pdf,
    };
    if format != reports::Format::Csv && args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("an .xlsx or .pdf is binary: give -o FILE, or redirect standard output");
    }
    let table = match args.table {
        ReportTable::Members => Table::Members,
        ReportTable::Points => Table::Points,
    };
    let store = open_existing(database).await?;
    let report = reports::participation(&store, rules, period).await?;
    store.close().await;
    let file = reports::render(&report, format, table, pdf)?;
    write_out(args.output.as_deref(), &file.bytes)?;
    eprintln!(
        "{} members, {} meetings, rules: {}",
        report.members.len(),
        report.meetings.len(),
        rules.label()
    );
    Ok(ExitCode::SUCCESS)
}

/// A report's bytes to `output`, or to standard output.
fn write_out(output: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            Ok(out.flush()?)
        }
    }
}

/// `report statistics`: attendance and speaking time over a period, as the API serves
/// them, to a file or standard output.
async fn statistics(database: &str, args: &StatisticsArgs) -> anyhow::Result<ExitCode> {
    let period = reports::period(&args.from, &args.to)?;
    let store = open_existing(database).await?;
    let statistics = reports::statistics(&store, period).await?;
    store.close().await;
    let bytes = match args.format {
        StatisticsFormat::Json => {
            let mut json = serde_json::to_vec_pretty(&statistics)?;
            json.push(b'\n');
            json
        }
        StatisticsFormat::Csv => {
            let table = match args.table {
                StatisticsTable::Meetings => StatTable::Meetings,
                StatisticsTable::Sectors => StatTable::Sectors,
                StatisticsTable::Members => StatTable::Members,
            };
            reports::statistics_csv(&statistics, table).bytes
        }
    };
    write_out(args.output.as_deref(), &bytes)?;
    eprintln!(
        "{} meetings, {} members",
        statistics.meetings.len(),
        statistics.members.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `record verify ROOM`: the room's record from the store, checked like a file; for a
/// closed room, also against the final hash published at close.
async fn verify_room(database: &str, room: &str) -> anyhow::Result<ExitCode> {
    let store = open_existing(database).await?;
    let Some(stored) = store.room(room).await? else {
        bail!("no file and no room {room:?}");
    };
    let loaded = store.load(room).await?;
    store.close().await;
    Ok(report(&loaded.entries, stored.final_hash.as_deref()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn now() -> Millis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    Millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

fn mint(config: &Config, args: &TokenArgs) -> anyhow::Result<String> {
    let anonymous = args.role == Role::Audience && args.id.is_none();
    let id = match &args.id {
        Some(id) if id == auth::ANONYMOUS_SUB && args.role != Role::Audience => {
            bail!("`--id *` is for anonymous audience links only")
        }
        Some(id) => id.clone(),
        None if anonymous => auth::ANONYMOUS_SUB.to_owned(),
        None => format!("p-{}", auth::random_base32(&mut rand::rng(), 12)),
    };
    let name = match &args.name {
        Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
        _ if anonymous => "观众".to_owned(),
        _ => bail!("--name is required (the display name)"),
    };
    let participant = Participant {
        id: ParticipantId::new(id),
        name,
        role: args.role,
        grants: if args.grants.is_empty() {
            args.role.default_grants().to_vec()
        } else {
            args.grants.clone()
        },
        sector: args.sector.clone(),
        venue: args.venue.clone(),
    };
    let claims = Claims::new(args.room.clone(), &participant, now(), args.ttl);
    config
        .auth
        .token_keys
        .check(&claims)
        .context("this link would be refused (see --token-max-lifetime for longer links)")?;
    Ok(config.auth.token_keys.mint(&claims))
}

/// `record verify FILE`: print `ok: N entries, final hash H` (exit 0), `tampered: …`
/// naming the first broken entry (exit 1), or why the file cannot be read (exit 2).
fn verify_file(path: &Path) -> ExitCode {
    let entries = match read_record(path) {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("unreadable: {e:#}");
            return ExitCode::from(2);
        }
    };
    report(&entries, None)
}

/// Print whether `entries` verify (and end in `published`, the final hash published at
/// close, if any): 0 intact, 1 tampered.
fn report(entries: &[RecordEntry], published: Option<&str>) -> ExitCode {
    match verify_chain(entries) {
        Ok(hash) if published.is_some_and(|p| p != hash) => {
            println!(
                "tampered: the record ends in hash {hash}, not the final hash {} published at close",
                published.unwrap_or_default()
            );
            ExitCode::from(1)
        }
        Ok(hash) => {
            println!("ok: {} entries, final hash {hash}", entries.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("tampered: {e}");
            ExitCode::from(1)
        }
    }
}

fn read_record(path: &Path) -> anyhow::Result<Vec<RecordEntry>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut entries = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line)
            .with_context(|| format!("{}: line {} is not a record entry", path.display(), n + 1))?;
        entries.push(entry);
    }
    Ok(entries)
}

fn parse_role(text: &str) -> Result<Role, String> {
    serde_json::from_value(serde_json::Value::String(text.trim().to_ascii_lowercase()))
        .map_err(|_| format!("unknown role {text:?}: use host, member, respondent, venue, observer, recorder or audience"))
}

fn parse_grant(text: &str) -> Result<Grant, String> {
    serde_json::from_value(serde_json::Value::String(text.trim().to_ascii_lowercase()))
        .map_err(|_| format!("unknown grant {text:?}"))
}

fn parse_kind(text: &str) -> Result<RoomKind, String> {
    serde_json::from_value(serde_json::Value::String(text.trim().to_ascii_lowercase()))
        .map_err(|_| format!("unknown room kind {text:?}: use consultation or lecture"))
}

/// `yishi apikey …`: keys made here are audited as made by `cli`.
async fn apikey(database: &str, command: ApikeyCommand) -> anyhow::Result<ExitCode> {
    let store = Store::open(database)
        .await
        .with_context(|| format!("cannot open the store at {database}"))?;
    let at = now().0 as i64;
    // Beijing time, as the minutes print it.
    let time = |ms: Option<i64>| match ms.and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) => yishi::minutes::time::local_minute(Millis(ms)),
        None => "-".into(),
    };
    match command {
        ApikeyCommand::Add {
            name,
            scopes,
            expires,
        } => {
            let (key, secret) = apikeys::make(&store, &name, &scopes, expires, "cli", at).await?;
            store
                .audit(
                    at,
                    "cli",
                    "add_api_key",
                    &format!("{} ({})", key.name, apikeys::join_scopes(&key.scopes)),
                )
                .await?;
            eprintln!(
                "API key {} (id {}), expires {}. Its secret, shown only now:",
                key.name,
                key.id,
                time(key.expires_at)
            );
            println!("{secret}");
        }
        ApikeyCommand::List => {
            println!("id\tname\tscopes\tcreated by\tcreated\tlast used\texpires\trevoked");
            for k in store.api_keys().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.name,
                    apikeys::join_scopes(&k.scopes),
                    k.created_by,
                    time(Some(k.created_at)),
                    time(k.last_used_at),
                    time(k.expires_at),
                    time(k.revoked_at)
                );
            }
        }
        ApikeyCommand::Revoke { key } => match store.revoke_api_key(&key, at).await? {
            Some(k) => {
                store.audit(at, "cli", "revoke_api_key", &k.name).await?;
                println!("revoked API key {} (id {})", k.name, k.id);
            }
            None => bail!("no API key {key:?}: `yishi apikey list` shows them"),
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the seeded topics are (街道 and 社区), what they are about and their categories:
/// the titles hold words of two characters (停车, 电梯) and of three or more (充电桩,
/// 垃圾分类), as residents would search for them.
const SEED_AREAS: [&str; 8] = [
    "东城街道",
    "西城街道",
    "南湖街道",
    "北苑街道",
    "新城社区",
    "老城社区",
    "滨江社区",
    "工业园",
];
const SEED_PLACES: [&str; 10] = [
    "幸福里小区",
    "光明路",
    "和平街",
    "滨江花园",
    "第三中学",
    "人民公园",
    "老街菜市场",
    "新华小区",
    "建设路",
    "桂花苑",
];
const SEED_ISSUES: [(&str, &str, &str); 12] = [
    ("停车难", "车位不足，晚上停车难，希望增加共享停车位", "交通"),
    (
        "加装电梯",
        "老旧楼房没有电梯，老人上下楼困难，希望加装电梯",
        "住房",
    ),
    (
        "垃圾分类投放点",
        "垃圾分类投放点太少，希望增设并定时清运",
        "环境",
    ),
    (
        "夜间噪音扰民",
        "夜间施工和广场舞噪音扰民，希望规定时段",
        "环境",
    ),
    ("路灯不亮", "多处路灯不亮，夜里出行不安全", "市政"),
    ("充电桩不足", "电动车充电桩不足，楼道充电有火灾隐患", "安全"),
    ("开办老年食堂", "独居老人吃饭不便，希望开办老年食堂", "民生"),
    ("雨天积水", "雨天路面积水严重，希望改造排水管网", "市政"),
    ("绿化带缺乏管护", "绿化带缺乏管护，杂草丛生", "环境"),
    (
        "上学时段交通拥堵",
        "上学放学时段交通拥堵，希望错峰并设接送区",
        "交通",
    ),
    ("环境脏乱", "环境脏乱，希望加强保洁和管理", "环境"),
    ("公交线路调整", "公交站点太远，希望调整公交线路", "交通"),
];

/// The `i`-th seeded topic: `(title, text, area, category)`.
fn seed_topic(i: u32) -> (String, String, String, String) {
    let i = i as usize;
    let place = SEED_PLACES[(i / SEED_ISSUES.len()) % SEED_PLACES.len()];
    let (short, long, category) = SEED_ISSUES[i % SEED_ISSUES.len()];
    (
        format!("{place}{short}"),
        format!("{place}{long}。居民反映已有一段时间，希望有关部门协调解决，并定期公开进展。"),
        SEED_AREAS[(i / 7) % SEED_AREAS.len()].to_owned(),
        category.to_owned(),
    )
}

/// The stage the `i`-th seeded topic is moved to: four in five stay collecting.
fn seed_stage(i: u32) -> yishi::board::Stage {
    use yishi::board::Stage;
    match i % 20 {
        0..=15 => Stage::Collecting,
        16 | 17 => Stage::Selecting,
        18 => Stage::Consulted,
        _ => Stage::Done,
    }
}

/// Events appended to the record in one transaction.
const SEED_BATCH: usize = 20_000;

/// The board being seeded: each command decided by the engine, its events sealed into
/// the chain and kept until [`SEED_BATCH`] of them are appended in one transaction.
struct Seeder {
    store: Store,
    board: yishi::board::Board,
    chain: yishi::board::Chain,
    pending: Vec<yishi::board::BoardEntry>,
    written: usize,
}

impl Seeder {
    /// The board replayed from the store's record, checked.
    async fn open(store: Store) -> anyhow::Result<Seeder> {
        let entries = store.board_load().await?;
        let head = yishi::board::verify_chain(&entries)
            .map_err(|seq| anyhow::anyhow!("the board's record breaks at entry {seq}"))?;
        let board = yishi::board::Board::replay(entries.iter().map(|e| &e.event));
        let chain = yishi::board::Chain::resume(&head).context("the board's head is not a hash")?;
        Ok(Seeder {
            store,
            board,
            chain,
            pending: Vec::new(),
            written: 0,
        })
    }

    async fn apply(
        &mut self,
        actor: &yishi::board::Actor,
        command: &yishi::board::Command,
    ) -> anyhow::Result<Vec<yishi::board::Event>> {
        let events = self
            .board
            .apply(actor, command, now())
            .map_err(|r| anyhow::anyhow!("{} refused: {}", command.name(), r.message))?;
        let chain = &mut self.chain;
        self.pending
            .extend(events.iter().cloned().map(|e| chain.seal(e)));
        if self.pending.len() >= SEED_BATCH {
            self.flush().await?;
        }
        Ok(events)
    }

    /// Append the pending entries and the search index changes they cause, as the
    /// server does for a command.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let mut touched: Vec<yishi::board::TopicId> = self
            .pending
            .iter()
            .flat_map(|e| e.event.body.touched_topics())
            .collect();
        touched.sort();
        touched.dedup();
        let docs: Vec<yishi::store::SearchDoc> = touched
            .into_iter()
            .map(|topic| yishi::store::SearchDoc {
                topic,
                text: self
                    .board
                    .searchable(topic)
                    .map(|(t, b)| (t.to_owned(), b.to_owned())),
            })
            .collect();
        self.store.board_append(&self.pending, &docs).await?;
        self.written += self.pending.len();
        self.pending.clear();
        Ok(())
    }
}

/// `board seed`: `topics` published topics, then `supports` supports by `residents`
/// generated residents (`res-seed-N`), each decided by the board's engine on the board
/// replayed from the store, sealed into its chain and appended with its search index
/// changes, [`SEED_BATCH`] events a transaction.
async fn board_seed(
    database: &str,
    topics: u32,
    supports: u32,
    residents: u32,
) -> anyhow::Result<ExitCode> {
    use yishi::board::{
        Actor, AdvanceStage, Command as BoardCmd, Identity, Stage, SubmitTopic, Support,
    };

    let started = std::time::Instant::now();
    let store = Store::open(database)
        .await
        .with_context(|| format!("cannot open the store at {database}"))?;
    // Checked before anything is written.
    let n = (0..topics)
        .filter(|i| seed_stage(*i) <= Stage::Selecting)
        .count() as u64;
    let per_resident = u64::from(supports).div_ceil(u64::from(residents));
    if supports > 0 && (n == 0 || per_resident > n || n.is_multiple_of(20011)) {
        bail!(
            "{supports} supports by {residents} residents need at least {per_resident} topics \
             still collecting (there would be {n}): more topics or more residents"
        );
    }
    let mut seeder = Seeder::open(store).await?;
    let staff = Actor::Staff {
        name: "board seed".into(),
        role: StaffRole::Admin,
    };
    // Topics: submitted by staff (published at once), a fifth moved on.
    let mut open = Vec::new();
    for i in 0..topics {
        let (title, text, area, category) = seed_topic(i);
        let submit = BoardCmd::SubmitTopic(SubmitTopic {
            title,
            text,
            area,
            category,
        });
        let events = seeder.apply(&staff, &submit).await?;
        let Some(topic) = events
            .iter()
            .find_map(|e| e.body.touched_topics().first().copied())
        else {
            bail!("submit_topic made no topic");
        };
        let target = seed_stage(i);
        let mut stage = Stage::Collecting;
        while stage < target {
            let Some(to) = stage.next() else { break };
            let advance = BoardCmd::AdvanceStage(AdvanceStage {
                topic,
                to,
                note: "（示例数据）按流程推进".into(),
            });
            seeder.apply(&staff, &advance).await?;
            stage = to;
        }
        if stage <= Stage::Selecting {
            open.push(topic);
        }
    }
    // Supports: resident r gives its j-th support to open[(r * 7 + j * 20011) % n], all
    // distinct while j < n (20011 is prime).
    let n = open.len() as u64;
    for s in 0..u64::from(supports) {
        let r = s % u64::from(residents);
        let j = s / u64::from(residents);
        let who = Actor::Resident {
            identity: Identity::new(format!("res-seed-{r}")),
            name: format!("居民{r}"),
            verified: false,
        };
        let topic = open[((r * 7 + j * 20011) % n) as usize];
        seeder
            .apply(&who, &BoardCmd::Support(Support { topic }))
            .await?;
    }
    seeder.flush().await?;
    let seq = seeder.board.seq();
    seeder.store.close().await;
    eprintln!(
        "board seeded: {topics} topics, {supports} supports by {residents} residents; \
         {} events appended in {:.1} s (the record ends at seq {seq})",
        seeder.written,
        started.elapsed().as_secs_f64(),
    );
    Ok(ExitCode::SUCCESS)
}
