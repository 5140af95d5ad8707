//! A mutation fuzzer over the sources godwit reads, on stable Rust: JSON,
//! JSON Lines and CSV made from real data (the Chinook sample database and
//! the JSONTestSuite cases), and the SQLite files of the shared corpus.
//! Each mutated file is opened, planned and every table read, as `plan`
//! and `copy` read them, in-process. What must hold for every input:
//!
//! - no panic;
//! - no hang: each input finishes within a time bound;
//! - no document error without a position: every error about a JSON,
//!   JSON Lines or CSV file, and every rejected record, names a line.
//!
//! `make test` runs a short seeded run (this file's test); `make fuzz`
//! runs a long one: `GODWIT_FUZZ_INPUTS=N GODWIT_FUZZ_SEED=S`. The counts
//! are in docs/reliability.md.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use godwit::prepare::{Mapping, describe_and_plan};
use godwit::source::documents::DocumentOptions;
use godwit::source::{Flow, Reader, Row, RowBatch, RowBatcher, Scan, Selected, Source, SourceSchema};

/// How long one input may take (debug build, slowest machine) before it
/// counts as a hang.
const TIME_BOUND: Duration = Duration::from_secs(20);

/// A small, seedable generator (xorshift64*): the same seed makes the
/// same inputs on every machine, so a finding can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
}

/// Bytes that mean something to one of the formats.
const INTERESTING: &[u8] = b"\0\n\r\t\"',;|\\{}[]:-+.eE0123456789 \x7f\xff\xc3\xa9\xed\xa0\x80";

/// One mutation of `seed`: a few flips, insertions, deletions, copies of
/// a range or a cut; only flips and overwrites when `same_length` (a
/// SQLite file's pages stay where they are, so the damage is read).
fn mutate(rng: &mut Rng, seed: &[u8], keep_prefix: usize, same_length: bool) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        let at = keep_prefix.min(len) + rng.below(len.saturating_sub(keep_prefix).max(1));
        let operation = if same_length { rng.below(2) } else { rng.below(7) };
        match operation {
            0 if at < len => data[at] ^= 1 << rng.below(8),
            1 if at < len => data[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => data.insert(at.min(len), INTERESTING[rng.below(INTERESTING.len())]),
            3 if at < len => {
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at..end);
            }
            4 if at < len => {
                let end = (at + 1 + rng.below(64)).min(len);
                let piece: Vec<u8> = data[at..end].to_vec();
                let to = rng.below(data.len());
                data.splice(to..to, piece);
            }
            5 if len > keep_prefix + 1 => data.truncate(at.max(keep_prefix + 1)),
            _ => {
                let byte = u8::try_from(rng.below(256)).unwrap();
                data.insert(at.min(len), byte);
            }
        }
    }
    data
}

#[derive(Debug, Default)]
struct Counts {
    inputs: u64,
    loaded: u64,
    refused: u64,
    rejected_records: u64,
    panics: Vec<String>,
    hangs: Vec<String>,
    unplaced: Vec<String>,
}

/// What reading one file came to.
enum Outcome {
    Loaded { rejected: u64, unplaced: Option<String> },
    Refused(String),
}

/// Opens and plans one file as `plan` and `copy` do, with one reader (the
/// source is kept with it: a reader may read what the source holds).
type Opened = (Box<dyn Source>, SourceSchema, Vec<Box<dyn Reader>>);

fn opened(spec: &str, options: &DocumentOptions) -> godwit::error::Result<Opened> {
    let source = godwit::source::open_with(spec, options)?;
    let mapping = Mapping {
        config: godwit::config::Config::default(),
        schema: "public".into(),
        identifiers: Default::default(),
    };
    let (schema, _plan) = describe_and_plan(source.as_ref(), &mapping, &|_, _| true)?;
    let readers = source.readers(1)?;
    Ok((source, schema, readers))
}

/// Opens, plans and reads every table of one file, as `plan` and `copy`
/// read it.
fn read_all(spec: &str) -> Outcome {
    let (_source, schema, mut readers) = match opened(spec, &DocumentOptions::default()) {
        Ok(opened) => opened,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let mut rejected = 0u64;
    let mut unplaced = None;
    for table in &schema.tables {
        let select: Vec<Selected> = table.columns.iter().map(|c| Selected::Column(c.name.clone())).collect();
        let scan = Scan::whole(&table.name, &select);
        let read = readers[0].scan(&scan, &mut |row| {
            for i in 0..select.len() {
                let _ = row.value(i);
            }
            if let Some(problem) = row.problem() {
                rejected += 1;
                if !problem.reason.contains("line ") && unplaced.is_none() {
                    unplaced = Some(problem.reason.clone());
                }
            }
            Ok(Flow::Continue)
        });
        if let Err(e) = read {
            return Outcome::Refused(e.to_string());
        }
    }
    Outcome::Loaded { rejected, unplaced }
}

/// Everything one reading of a file gives, as text: each table's rows
/// (values and problems, with their places) or the error that refused it;
/// with `batched`, also how many tables the reader made into batches.
fn transcript(spec: &str, options: &DocumentOptions, batched: bool) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut tables_batched = 0;
    let (_source, schema, mut readers) = match opened(spec, options) {
        Ok(opened) => opened,
        Err(e) => return (vec![format!("refused: {e}")], 0),
    };
    for table in &schema.tables {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("{}:{:?}", c.name, c.inferred))
            .collect();
        out.push(format!("table {}: {}", table.name, columns.join(", ")));
        let select: Vec<Selected> = table.columns.iter().map(|c| Selected::Column(c.name.clone())).collect();
        let scan = Scan::whole(&table.name, &select);
        let batcher = TextBatcher(select.len());
        let read = match batched {
            true => readers[0].scan_batched(&scan, &batcher, &mut |batch| {
                let lines = batch.into_any().downcast::<Vec<String>>().expect("a batch of lines");
                out.extend(*lines);
                Ok(Flow::Continue)
            }),
            false => Ok(false),
        };
        let read = match read {
            Ok(true) => {
                tables_batched += 1;
                Ok(())
            }
            Ok(false) => readers[0].scan(&scan, &mut |row| {
                out.push(row_text(row, select.len()));
                Ok(Flow::Continue)
            }),
            Err(e) => Err(e),
        };
        if let Err(e) = read {
            out.push(format!("refused on scan: {e}"));
        }
    }
    (out, tables_batched)
}

/// One row as a line of the transcript: its values, and its problem.
fn row_text(row: &dyn Row, columns: usize) -> String {
    let values: Vec<String> = (0..columns).map(|i| format!("{:?}", row.value(i))).collect();
    let problem = row.problem().map(|p| format!(" problem {:?}: {}", p.column, p.reason));
    format!("{}{}", values.join(" | "), problem.unwrap_or_default())
}

/// Batches of transcript lines, handed on every 7 rows (so batches end
/// inside ranges and across them).
struct TextBatcher(usize);

struct TextBatch {
    columns: usize,
    lines: Vec<String>,
}

impl RowBatcher for TextBatcher {
    fn batch(&self) -> Box<dyn RowBatch> {
        Box::new(TextBatch {
            columns: self.0,
            lines: Vec::new(),
        })
    }
}

impl RowBatch for TextBatch {
    fn row(&mut self, row: &dyn Row) -> Flow {
        self.lines.push(row_text(row, self.columns));
        Flow::Continue
    }

    fn full(&self) -> bool {
        self.lines.len() >= 7
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        Box::new(self.lines)
    }
}

/// Errors about a whole file that have no line to name.
fn file_level(message: &str) -> bool {
    [
        "is empty",
        "holds no JSON or CSV records",
        "nothing to read",
        "no such file",
        // UTF-16 or UTF-32 text, or a compressed file: the whole file's.
        "godwit reads UTF-8",
        "-compressed (it starts with",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Runs one input with a time bound; a panic or a hang is counted, not
/// raised, so that the run goes on and reports them all.
fn run_one(counts: &mut Counts, path: &Path, spec: String, document: bool) {
    counts.inputs += 1;
    let (tx, rx) = mpsc::channel();
    let worker_spec = spec.clone();
    let handle = std::thread::spawn(move || {
        let outcome = read_all(&worker_spec);
        let _ = tx.send(());
        outcome
    });
    match rx.recv_timeout(TIME_BOUND) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(Outcome::Loaded { rejected, unplaced }) => {
                counts.loaded += 1;
                counts.rejected_records += rejected;
                if let Some(reason) = unplaced.filter(|_| document) {
                    counts
                        .unplaced
                        .push(format!("{}: record rejected without a line: {reason}", keep(path)));
                }
            }
            Ok(Outcome::Refused(message)) => {
                counts.refused += 1;
                if std::env::var_os("GODWIT_FUZZ_SHOW").is_some() {
                    eprintln!("refused: {message}");
                }
                if document && !message.contains("line ") && !file_level(&message) {
                    counts.unplaced.push(format!("{}: {message}", keep(path)));
                }
            }
            Err(_) => counts.panics.push(keep(path)),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // The thread is left behind; the input is kept to replay.
            counts.hangs.push(keep(path));
        }
    }
}

/// Keeps a failing input under target/fuzz-findings, to replay it.
fn keep(path: &Path) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-findings");
    let _ = std::fs::create_dir_all(&dir);
    let to = dir.join(path.file_name().unwrap());
    let _ = std::fs::copy(path, &to);
    to.display().to_string()
}

/// Seeds made from real data: Chinook's tracks as CSV, JSON, JSON Lines
/// and an app-state dump, and the JSONTestSuite's valid texts.
fn document_seeds() -> Vec<(String, Vec<u8>)> {
    let chinook = corpus_dir().join("Chinook_Sqlite.sqlite");
    let conn = rusqlite::Connection::open_with_flags(&chinook, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT t.TrackId, t.Name, t.Composer, t.Milliseconds, t.UnitPrice, a.Title, a.AlbumId \
             FROM Track t JOIN Album a USING (AlbumId) ORDER BY t.TrackId LIMIT 40",
        )
        .unwrap();
    let tracks: Vec<serde_json::Value> = statement
        .query_map([], |r| {
            Ok(serde_json::json!({
                "id": r.get::<_, i64>(0)?,
                "name": r.get::<_, String>(1)?,
                "composer": r.get::<_, Option<String>>(2)?,
                "ms": r.get::<_, i64>(3)?,
                "price": r.get::<_, f64>(4)?,
                "album": {"id": r.get::<_, i64>(6)?, "title": r.get::<_, String>(5)?},
                "tags": ["rock", r.get::<_, i64>(6)?],
            }))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut csv = String::from("id,name,composer,ms,price,album\n");
    for t in &tracks {
        let quote = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => format!("\"{}\"", s.replace('"', "\"\"")),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            t["id"],
            quote(&t["name"]),
            quote(&t["composer"]),
            t["ms"],
            t["price"],
            quote(&t["album"]["title"])
        ));
    }
    let lines: String = tracks.iter().map(|t| format!("{t}\n")).collect();
    let array = serde_json::to_string_pretty(&tracks).unwrap();
    let dump = serde_json::json!({
        "version": 3,
        "tracks": tracks[..10],
        "albums": {"a1": {"title": "x"}, "a2": {"title": "y"}},
    })
    .to_string();
    let mut seeds = vec![
        ("tracks.csv".to_string(), csv.clone().into_bytes()),
        ("tracks.tsv".to_string(), csv.replace(',', "\t").into_bytes()),
        ("tracks.ndjson".to_string(), lines.clone().into_bytes()),
        ("tracks.json".to_string(), array.into_bytes()),
        ("state.json".to_string(), dump.into_bytes()),
        ("sniffed".to_string(), lines.into_bytes()),
        ("sniffed-csv".to_string(), csv.into_bytes()),
    ];
    let suite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jsontestsuite");
    let mut valid: Vec<PathBuf> = std::fs::read_dir(&suite)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("y_"))
        .collect();
    valid.sort();
    for p in valid.iter().step_by(4) {
        seeds.push((
            p.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read(p).unwrap(),
        ));
    }
    seeds
}

/// Records of one shape, written compactly one a line (as apps and
/// exporters write them), as JSON Lines and as a top-level array: the
/// files whose rows are made from their lines' shape, which mutations
/// break in every way a byte can.
fn one_shape_seeds() -> Vec<(String, Vec<u8>)> {
    let records: Vec<String> = (1..=40)
        .map(|i| {
            let composer = match i % 7 {
                0 => "null".to_string(),
                3 => format!(r#""Composer \"{i}\" \u00e9\ud834\udd1e\n""#),
                _ => format!("\"Composer {i}\""),
            };
            format!(
                r#"{{"id":{i},"name":"Track {i}","composer":{composer},"ms":{},"price":0.{},"ok":{},"album":{{"id":{},"title":"Album {}"}},"tags":["rock","a{}"]}}"#,
                200_000 + i * 977,
                90 + i % 10,
                i % 3 == 0,
                1 + i / 10,
                1 + i / 10,
                i % 4
            )
        })
        .collect();
    vec![
        (
            "shaped.ndjson".to_string(),
            format!("{}\n", records.join("\n")).into_bytes(),
        ),
        (
            "shaped.json".to_string(),
            format!("[\n{}\n]\n", records.join(",\n")).into_bytes(),
        ),
    ]
}

fn sqlite_seeds() -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

/// The shared test corpus: GODWIT_CORPUS, else `shared/corpus` beside the
/// checkout or beside one of its parents (a worktree sits deeper).
fn corpus_dir() -> PathBuf {
    if let Some(root) = std::env::var_os("GODWIT_CORPUS") {
        return PathBuf::from(root).join("sqlite");
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared/corpus/sqlite"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no shared/corpus/sqlite above {}", manifest.display()))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Fuzzes `inputs` mutations of the seeds; returns the counts.
fn fuzz(seeds: &[(String, Vec<u8>)], inputs: u64, seed: u64, sqlite: bool) -> Counts {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed | 1);
    let mut counts = Counts::default();
    for n in 0..inputs {
        // The first seeds (real records) twice as often as the rest.
        let (name, bytes) = if rng.below(2) == 0 {
            &seeds[rng.below(seeds.len().min(7))]
        } else {
            &seeds[rng.below(seeds.len())]
        };
        // SQLite: keep the 100-byte header mostly intact so that the pages
        // are read, not just the header refused.
        let keep_prefix = if sqlite && rng.below(4) > 0 { 100 } else { 0 };
        let same_length = sqlite && rng.below(8) > 0;
        let data = mutate(&mut rng, bytes, keep_prefix, same_length);
        let path = dir.path().join(format!("{seed}-{n}-{name}"));
        std::fs::write(&path, &data).unwrap();
        let spec = if !sqlite && name.starts_with("sniffed") && rng.below(3) == 0 {
            format!("ndjson:{}", path.display())
        } else {
            path.display().to_string()
        };
        run_one(&mut counts, &path, spec, !sqlite);
        let _ = std::fs::remove_file(&path);
    }
    counts
}

fn report(what: &str, counts: &Counts) {
    eprintln!(
        "{what}: {} inputs, {} read ({} records rejected with their place), {} refused with a message; {} panics, {} hangs, {} errors without a position",
        counts.inputs,
        counts.loaded,
        counts.rejected_records,
        counts.refused,
        counts.panics.len(),
        counts.hangs.len(),
        counts.unplaced.len()
    );
    assert!(counts.panics.is_empty(), "{what}: panics on {:#?}", counts.panics);
    assert!(counts.hangs.is_empty(), "{what}: hangs on {:#?}", counts.hangs);
    assert!(
        counts.unplaced.is_empty(),
        "{what}: errors without a position: {:#?}",
        counts.unplaced
    );
}

#[test]
fn mutated_documents_never_panic_hang_or_fail_without_a_position() {
    let inputs = env_number("GODWIT_FUZZ_INPUTS", 400);
    let seed = env_number("GODWIT_FUZZ_SEED", 19);
    let counts = fuzz(&document_seeds(), inputs, seed, false);
    report("documents", &counts);
    assert!(counts.loaded > 0 && counts.refused > 0, "{counts:?}");
}

#[test]
fn mutated_sqlite_files_never_panic_or_hang() {
    let inputs = env_number("GODWIT_FUZZ_INPUTS", 400) / 8;
    let seed = env_number("GODWIT_FUZZ_SEED", 19);
    let counts = fuzz(&sqlite_seeds(), inputs, seed, true);
    report("sqlite", &counts);
    assert!(counts.inputs > 0);
}

/// The same mutated JSON, JSON Lines and CSV files read by one worker in
/// one piece and by three workers in 40-byte ranges, row by row and in
/// batches made on the workers (as copy and verify read): the parallel path
/// (ranges cut at line ends, the array's quick pass on its own thread,
/// records made into rows as they are parsed, the rest of a range after
/// a problem handed back in order) must give the very same tables, rows,
/// problems, places and errors.
#[test]
fn mutated_documents_read_the_same_whole_and_in_small_ranges() {
    let inputs = env_number("GODWIT_FUZZ_INPUTS", 400) / 2;
    // Mixed, so that this run's inputs are not the other test's.
    let seed = env_number("GODWIT_FUZZ_SEED", 19).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed;
    let one = DocumentOptions {
        workers: 1,
        ..DocumentOptions::default()
    };
    let many = DocumentOptions {
        workers: 3,
        range_bytes: 40,
        ..DocumentOptions::default()
    };
    // Ranges of several lines: a line's shape, learned from the first
    // line of a range, is matched against the mutated lines after it.
    let wider = DocumentOptions {
        workers: 3,
        range_bytes: 400,
        ..DocumentOptions::default()
    };
    let seeds: Vec<(String, Vec<u8>)> = document_seeds().into_iter().take(7).chain(one_shape_seeds()).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed | 1);
    let (mut compared, mut rows, mut differ, mut stuck) = (0u64, 0usize, Vec::new(), Vec::new());
    let mut tables_batched = 0;
    for n in 0..inputs {
        let (name, bytes) = &seeds[rng.below(seeds.len())];
        let data = mutate(&mut rng, bytes, 0, false);
        let path = dir.path().join(format!("ranges-{seed}-{n}-{name}"));
        std::fs::write(&path, &data).unwrap();
        let spec = path.display().to_string();
        let (tx, rx) = mpsc::channel();
        let (one, many, wider, worker_spec) = (one.clone(), many.clone(), wider.clone(), spec.clone());
        std::thread::spawn(move || {
            let _ = tx.send([
                transcript(&worker_spec, &one, false),
                transcript(&worker_spec, &many, false),
                transcript(&worker_spec, &many, true),
                transcript(&worker_spec, &wider, true),
            ]);
        });
        match rx.recv_timeout(TIME_BOUND * 4) {
            Ok([(whole, _), (ranged, _), (batched, made), (batched_wider, made_wider)]) => {
                compared += 1;
                tables_batched += made + made_wider;
                rows += whole.len();
                for (how, other) in [
                    ("ranged", &ranged),
                    ("batched", &batched),
                    ("batched in wider ranges", &batched_wider),
                ] {
                    if whole != *other {
                        let at = whole
                            .iter()
                            .zip(other)
                            .position(|(a, b)| a != b)
                            .unwrap_or(whole.len().min(other.len()));
                        differ.push(format!(
                            "{}: {how}: first difference at line {at} of {} / {}:\n  whole: {:?}\n  {how}: {:?}",
                            keep(&path),
                            whole.len(),
                            other.len(),
                            whole.get(at),
                            other.get(at)
                        ));
                    }
                }
            }
            // A panic drops the sender; a hang never sends.
            Err(_) => stuck.push(keep(&path)),
        }
        let _ = std::fs::remove_file(&path);
    }
    eprintln!(
        "documents whole and in ranges: {compared} inputs compared ({rows} lines of transcript, {tables_batched} tables in batches), {} differ, {} panicked or hung",
        differ.len(),
        stuck.len()
    );
    assert!(stuck.is_empty(), "panicked or hung: {stuck:#?}");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(rows > inputs as usize, "the inputs were read into rows: {rows}");
    assert!(tables_batched > 0, "some tables were made into batches on the workers");
}
