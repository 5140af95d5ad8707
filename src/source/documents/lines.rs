//! JSON Lines read on every core. The file is cut into byte ranges at line
//! boundaries; worker threads parse ranges ahead while the caller takes
//! the records in file order, one at a time, each with its exact line,
//! column and byte. The caller sees exactly what one sequential read gives
//! (the same records, problems and errors, in the same order), so every
//! pass over the file (learning, relation checks, copy, verify) is
//! parallel without a change of meaning.
//!
//! A range's records are parsed with byte offsets from the start of the
//! file and lines counted from the range's start; its first line's number
//! is known once the ranges before it are delivered (their newlines are
//! counted as they are parsed), and added then. Memory: at most two
//! ranges per worker are parsed ahead of the caller.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::json::{JsonReader, Position};
use super::records::{Parsed, Visit, next_record};
use crate::error::{Error, Result};
use crate::source::Flow;

/// What a worker made of a range's records (rows, or facts learned).
pub type Made = Box<dyn std::any::Any + Send>;

/// Makes something of one range's records on the worker that parses
/// them, one record at a time as each is parsed (rows built, facts
/// learned): the record is used and freed while it is still in the
/// cache, instead of after the whole range (megabytes of records).
pub trait RangeMaker {
    /// Takes one record; false leaves it, and the rest of the range, to
    /// be visited in order by the caller (a record with a problem, whose
    /// message needs the lines of the ranges before).
    fn take(&mut self, record: &Parsed) -> bool;
    /// Whether [`Self::take_line`] may take lines (JSON Lines only).
    fn takes_lines(&self) -> bool {
        false
    }
    /// Takes the record that starts `line` (the rest of the line the
    /// reader is on, newline excluded), read at `at`, without the reader
    /// parsing it: where the record ends in the line. With `whole_line`
    /// (JSON Lines) nothing but blanks may follow it. None leaves it to
    /// be parsed and offered to [`Self::take`].
    fn take_line(&mut self, _line: &[u8], _at: Position, _whole_line: bool) -> Option<usize> {
        None
    }
    /// What was made of the records taken.
    fn made(self: Box<Self>) -> Made;
}

/// Starts the maker of one range; None leaves the range's records to the
/// caller.
pub type Fold<'f> = dyn Fn() -> Option<Box<dyn RangeMaker + 'f>> + Sync + 'f;

/// Takes what workers made, in file order among the records.
pub type Take<'t> = dyn FnMut(Made) -> Result<Flow> + 't;

/// Batches made in the workers, and where they go.
pub struct Folding<'a, 't> {
    pub fold: &'a Fold<'a>,
    pub take: &'a mut Take<'t>,
}

/// One range's records as its worker parses them: handed to the maker
/// while it takes them, kept for the caller from the first it leaves.
pub struct Gather<'f> {
    maker: Option<Box<dyn RangeMaker + 'f>>,
    taken: bool,
    records: Vec<Parsed>,
}

impl<'f> Gather<'f> {
    pub fn new(fold: Option<&Fold<'f>>) -> Gather<'f> {
        Gather {
            maker: fold.and_then(|f| f()),
            taken: false,
            records: Vec::new(),
        }
    }

    pub fn push(&mut self, record: Parsed) {
        if self.records.is_empty()
            && let Some(maker) = self.maker.as_mut()
            && maker.take(&record)
        {
            self.taken = true;
            return;
        }
        self.records.push(record);
    }

    /// Whether lines may be offered to the maker: it takes them, and
    /// none has been left to the caller yet.
    pub fn takes_lines(&self) -> bool {
        self.records.is_empty() && self.maker.as_ref().is_some_and(|m| m.takes_lines())
    }

    pub fn take_line(&mut self, line: &[u8], at: Position, whole_line: bool) -> Option<usize> {
        let end = self.maker.as_mut()?.take_line(line, at, whole_line)?;
        self.taken = true;
        Some(end)
    }

    /// The range: what was made of its first records, then the others.
    pub fn finish(self, newlines: u64, error: Option<Error>) -> ParsedRange {
        ParsedRange {
            batch: self.maker.filter(|_| self.taken).map(|m| m.made()),
            records: self.records,
            newlines,
            error,
        }
    }
}

/// How a JSON Lines file is cut up and how many threads parse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Threads parsing ranges (besides the caller's); 1 reads sequentially.
    pub workers: usize,
    /// About this many bytes a range (a range ends at the end of a line,
    /// so a line longer than this makes its range longer).
    pub range_bytes: u64,
}

impl Split {
    /// `workers` 0: one per core.
    pub fn new(workers: usize, range_bytes: u64) -> Split {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            workers
        };
        Split {
            workers,
            range_bytes: range_bytes.max(1),
        }
    }
}

fn read_error(file: &Path, e: std::io::Error) -> Error {
    Error::io(format!("reading {}", file.display()), e)
}

/// The first byte of each range: 0, then the byte after the first
/// newline at or past `range_bytes` from the previous start. Depends on
/// the file and `range_bytes` only, never on the number of workers.
pub fn range_starts(f: &mut File, len: u64, range_bytes: u64) -> std::io::Result<Vec<u64>> {
    let mut starts = vec![0];
    let mut buf = vec![0u8; 64 * 1024];
    let mut nominal = range_bytes;
    while nominal < len {
        // The newline may be the byte just before the nominal start.
        let mut at = nominal - 1;
        f.seek(SeekFrom::Start(at))?;
        let next = loop {
            let n = match f.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break None;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                break Some(at + u64::try_from(i).unwrap_or(u64::MAX) + 1);
            }
            at += u64::try_from(n).unwrap_or(u64::MAX);
        };
        match next {
            Some(start) if start < len => {
                starts.push(start);
                nominal = start.saturating_add(range_bytes);
            }
            _ => break,
        }
    }
    Ok(starts)
}

/// One range of a file, as workers parse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
    /// The offset of the first byte of the line `start` is on.
    pub line_start: u64,
    /// Lines before `start`, when known beforehand; else counted as the
    /// ranges before it are parsed.
    pub lines_before: Option<u64>,
}

/// What a worker made of one range.
pub struct ParsedRange {
    /// The records left to the caller, after those made into `batch`.
    pub records: Vec<Parsed>,
    /// Newlines in the range: the next range's first line is this many on.
    pub newlines: u64,
    /// What stopped the range early, after its records.
    pub error: Option<Error>,
    /// What the worker made of the range's first records.
    pub batch: Option<Made>,
}

impl ParsedRange {
    pub fn failed(error: Error) -> ParsedRange {
        ParsedRange {
            records: Vec::new(),
            newlines: 0,
            error: Some(error),
            batch: None,
        }
    }
}

/// A reader of one range of `file`, its positions the file's.
pub fn open_span(file: &Path, span: &Span) -> Result<JsonReader<std::io::Take<File>>> {
    let mut f = File::open(file).map_err(|e| read_error(file, e))?;
    f.seek(SeekFrom::Start(span.start)).map_err(|e| read_error(file, e))?;
    Ok(JsonReader::starting_at(
        f.take(span.end - span.start),
        span.start,
        span.line_start,
    ))
}

fn parse_lines(file: &Path, span: &Span, fold: Option<&Fold<'_>>) -> ParsedRange {
    let mut r = match open_span(file, span) {
        Ok(r) => r,
        Err(e) => return ParsedRange::failed(e),
    };
    r.set_one_value_per_line(true);
    let mut gather = Gather::new(fold);
    let mut first = true;
    let mut error = None;
    loop {
        // A line the maker takes as it stands is not parsed here.
        if gather.takes_lines() && r.skip_blank_lines().is_some() {
            let at = r.position();
            // A line the buffer cuts short is left to the parser.
            if let (line, true) = r.line_so_far()
                && let len = line.len()
                && gather.take_line(line, at, true).is_some()
            {
                r.advance(len);
                r.newline();
                first = false;
                continue;
            }
        }
        match next_record(&mut r, file, &mut first) {
            Ok(Some(record)) => gather.push(record),
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    gather.finish(r.position().line - 1, error)
}

#[derive(Default)]
struct State {
    /// The ranges found so far.
    spans: Vec<Span>,
    /// Every range has been found.
    complete: bool,
    /// The next range a worker takes.
    next: usize,
    /// Ranges the caller has taken so far.
    delivered: usize,
    done: BTreeMap<usize, ParsedRange>,
    /// The caller is finished (the end, an error or Flow::Stop).
    stop: bool,
    /// A worker died: the caller must not wait for its range.
    failed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|p| p.into_inner())
    }
}

/// Tells the caller when a worker unwinds, so it never waits forever.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().failed = true;
            self.0.changed.notify_all();
        }
    }
}

/// Tells workers and the caller that the pass finding ranges is over,
/// however it ended.
struct FoundAll<'a>(&'a Shared);

impl Drop for FoundAll<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.complete = true;
        state.failed |= std::thread::panicking();
        drop(state);
        self.0.changed.notify_all();
    }
}

fn worker(parse: &(dyn Fn(&Span) -> ParsedRange + Sync), shared: &Shared, ahead: usize) {
    let _guard = PanicGuard(shared);
    loop {
        let (k, span) = {
            let mut state = shared.lock();
            loop {
                if state.stop {
                    return;
                }
                if state.next < state.spans.len() {
                    if state.next < state.delivered + ahead {
                        break;
                    }
                } else if state.complete {
                    return;
                }
                state = shared.wait(state);
            }
            state.next += 1;
            (state.next - 1, state.spans[state.next - 1])
        };
        let parsed = parse(&span);
        shared.lock().done.insert(k, parsed);
        shared.changed.notify_all();
    }
}

/// Streams every record of a JSON Lines file to `visit`, in file order,
/// parsing ranges on `split.workers` threads; with `folding`, the records
/// of each range the workers parse whole are made into batches there.
pub fn each_folded(file: &Path, split: Split, folding: Option<Folding<'_, '_>>, visit: &mut Visit<'_>) -> Result<()> {
    let mut f = File::open(file).map_err(|e| Error::Source {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let len = f.metadata().map_err(|e| read_error(file, e))?.len();
    if split.workers <= 1 || len <= split.range_bytes {
        return sequential(f, file, visit);
    }
    let starts = range_starts(&mut f, len, split.range_bytes).map_err(|e| read_error(file, e))?;
    drop(f);
    let spans: Vec<Span> = starts
        .iter()
        .zip(starts.iter().skip(1).chain(std::iter::once(&len)))
        .map(|(&start, &end)| Span {
            start,
            end,
            line_start: start,
            lines_before: None,
        })
        .collect();
    let mut no_fallback = |_: &Span, _: u64, e: Error, _: &mut Visit<'_>| Err(e);
    let (fold, take) = match folding {
        Some(Folding { fold, take }) => (Some(fold), Some(take)),
        None => (None, None),
    };
    each_span(
        file,
        Ranges::Known(spans),
        split.workers,
        &|span| parse_lines(file, span, fold),
        &mut no_fallback,
        visit,
        take,
    )
}

/// What to do when a range fails, after its records (if any) are
/// visited: given the range, the lines before it and the error, read on
/// from its start, or return the error.
pub type Fallback<'f> = dyn FnMut(&Span, u64, Error, &mut Visit<'_>) -> Result<()> + 'f;

/// Hands on each range found, in file order; false when the reader wants
/// no more.
pub type FoundRange<'f> = dyn FnMut(Span) -> bool + 'f;

/// Where a file's ranges come from.
pub enum Ranges<'a> {
    /// All known before reading (JSON Lines: a line end near each cut).
    Known(Vec<Span>),
    /// Found by a pass over the file (an array's quick pass) that runs
    /// beside the workers, who start on the first range as soon as it is
    /// found instead of after the whole file was passed over.
    Found(&'a mut (dyn FnMut(&mut FoundRange<'_>) + Send)),
}

/// Parses the ranges with `parse` on `workers` threads and visits their
/// records in order, lines numbered from the start of the file. A range
/// that failed goes to `fallback` instead; reading stops there.
pub fn each_span(
    file: &Path,
    ranges: Ranges<'_>,
    workers: usize,
    parse: &(dyn Fn(&Span) -> ParsedRange + Sync),
    fallback: &mut Fallback<'_>,
    visit: &mut Visit<'_>,
    take: Option<&mut Take<'_>>,
) -> Result<()> {
    let (state, find) = match ranges {
        Ranges::Known(spans) => (
            State {
                spans,
                complete: true,
                ..State::default()
            },
            None,
        ),
        Ranges::Found(find) => (State::default(), Some(find)),
    };
    let workers = if state.complete {
        workers.min(state.spans.len())
    } else {
        workers
    }
    .max(1);
    let shared = Shared {
        state: Mutex::new(state),
        changed: Condvar::new(),
    };
    std::thread::scope(|scope| {
        let shared = &shared;
        let finder = find.map(|find| {
            scope.spawn(move || {
                let _found_all = FoundAll(shared);
                find(&mut |span| {
                    let mut state = shared.lock();
                    if state.stop {
                        return false;
                    }
                    state.spans.push(span);
                    drop(state);
                    shared.changed.notify_all();
                    true
                });
            })
        });
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(move || worker(parse, shared, 2 * workers)))
            .collect();
        let result = deliver(file, shared, fallback, visit, take);
        shared.lock().stop = true;
        shared.changed.notify_all();
        // Joined here, so that a thread that panicked (the reader already
        // returned an error for it) does not panic the scope.
        let mut panicked = handles.into_iter().any(|h| h.join().is_err());
        panicked |= finder.is_some_and(|h| h.join().is_err());
        match result {
            Ok(()) if panicked => Err(Error::Other(format!(
                "a thread reading {} stopped unexpectedly",
                file.display()
            ))),
            other => other,
        }
    })
}

fn sequential(f: File, file: &Path, visit: &mut Visit<'_>) -> Result<()> {
    let mut r = JsonReader::new(f);
    r.set_one_value_per_line(true);
    let mut first = true;
    while let Some(record) = next_record(&mut r, file, &mut first)? {
        if visit(&record.rec(file))? == Flow::Stop {
            break;
        }
    }
    Ok(())
}

/// Takes the ranges in order and visits their records, lines numbered
/// from the start of the file.
fn deliver(
    file: &Path,
    shared: &Shared,
    fallback: &mut Fallback<'_>,
    visit: &mut Visit<'_>,
    mut take: Option<&mut Take<'_>>,
) -> Result<()> {
    let mut counted = 0u64;
    // Until the ranges are all found and all taken (the return inside).
    let mut k = 0;
    loop {
        let (range, span) = {
            let mut state = shared.lock();
            let taken = loop {
                if let Some(range) = state.done.remove(&k) {
                    break (range, state.spans[k]);
                }
                if state.failed {
                    return Err(Error::Other(format!(
                        "a thread reading {} stopped unexpectedly",
                        file.display()
                    )));
                }
                if state.complete && k >= state.spans.len() {
                    return Ok(());
                }
                state = shared.wait(state);
            };
            state.delivered = k + 1;
            taken
        };
        shared.changed.notify_all();
        let lines_before = span.lines_before.unwrap_or(counted);
        if let Some(batch) = range.batch {
            let take = take
                .as_deref_mut()
                .ok_or_else(|| Error::Other(format!("{}: a range was made into rows nobody takes", file.display())))?;
            if take(batch)? == Flow::Stop {
                return Ok(());
            }
        }
        for mut record in range.records {
            record.at.line += lines_before;
            if let Some(p) = record.problem.as_mut() {
                p.at.line += lines_before;
            }
            if visit(&record.rec(file))? == Flow::Stop {
                return Ok(());
            }
        }
        // A JSON Lines range stops early on a read error only (a
        // malformed line is a record with its problem); a range of an
        // array that fails holds no records and is read again.
        if let Some(e) = range.error {
            return fallback(&span, lines_before, e, visit);
        }
        counted = lines_before + range.newlines;
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts_of(bytes: &[u8], range_bytes: u64) -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.ndjson");
        std::fs::write(&path, bytes).unwrap();
        let mut f = File::open(&path).unwrap();
        range_starts(&mut f, bytes.len() as u64, range_bytes).unwrap()
    }

    #[test]
    fn ranges_start_at_line_starts() {
        // Lines of 4 bytes ("aaa\n"): a nominal start inside a line moves
        // to the next line; one just after a newline stays.
        let text = b"aaa\nbbb\nccc\nddd\n";
        assert_eq!(starts_of(text, 4), [0, 4, 8, 12]);
        assert_eq!(starts_of(text, 5), [0, 8]);
        assert_eq!(starts_of(text, 100), [0]);
    }

    #[test]
    fn a_line_longer_than_a_range_is_one_range() {
        let mut text = vec![b'x'; 50];
        text.push(b'\n');
        text.extend_from_slice(b"y\n");
        assert_eq!(starts_of(&text, 8), [0, 51]);
        // No newline after the long line: one range.
        assert_eq!(starts_of(&[b'x'; 50], 8), [0]);
    }

    /// Takes the `id` of each record until one has a problem.
    struct Ids(Vec<String>);

    impl RangeMaker for Ids {
        fn take(&mut self, record: &Parsed) -> bool {
            if record.problem.is_some() {
                return false;
            }
            self.0
                .push(record.value.get("id").map(|v| v.to_json()).unwrap_or_default());
            true
        }

        fn made(self: Box<Self>) -> Made {
            Box::new(self.0)
        }
    }

    #[test]
    fn records_before_the_first_with_a_problem_are_made_the_rest_are_left_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.ndjson");
        let text = "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3, \"id\": 4}\n{\"id\": 5}\n";
        std::fs::write(&path, text).unwrap();
        let span = Span {
            start: 0,
            end: text.len() as u64,
            line_start: 0,
            lines_before: Some(0),
        };
        let fold = || Some(Box::new(Ids(Vec::new())) as Box<dyn RangeMaker>);
        let range = parse_lines(&path, &span, Some(&fold));
        let made = range
            .batch
            .expect("the first records were made")
            .downcast::<Vec<String>>()
            .unwrap();
        assert_eq!(*made, ["1", "2"]);
        let left: Vec<(u64, String)> = range
            .records
            .iter()
            .map(|r| (r.at.line, r.value.get("id").unwrap().to_json()))
            .collect();
        assert_eq!(left, [(3, "3".to_string()), (4, "5".to_string())]);
        assert_eq!(range.newlines, 4);

        // Without a problem, every record is made and none is left.
        let clean = "{\"id\": 1}\n\n{\"id\": 2}\n";
        std::fs::write(&path, clean).unwrap();
        let span = Span {
            end: clean.len() as u64,
            ..span
        };
        let range = parse_lines(&path, &span, Some(&fold));
        assert_eq!(*range.batch.unwrap().downcast::<Vec<String>>().unwrap(), ["1", "2"]);
        assert!(range.records.is_empty());
        // Without a maker, every record is left.
        assert_eq!(parse_lines(&path, &span, None).records.len(), 2);
    }
}
