//! Coverage of a tenant's scripts by its cases (`qualify test --coverage`): which lines
//! ran and which branches of `if` and `switch` were taken. Only under `--coverage`: the
//! scripts' text is instrumented (a hit counter at the start of every function body,
//! `if`/`else` block, loop body and `switch` arm, and an `else` added to an `if` that has
//! none) and compiled in a sandbox of its own that knows the counter; the serving rule
//! sets and the decision path are untouched (no Rhai `debugging` feature, whose
//! statement markers every compiled script would carry).
//!
//! Regions come from Rhai's AST (`AST::walk`, block spans, statement positions); the
//! counters are inserted without new lines, so every line number still matches the
//! tenant's file. A line counts as run when the innermost block holding one of its
//! statements was entered.

use super::folder::{Folder, Source};
use serde::Serialize;
use std::cell::RefCell;
use std::path::PathBuf;

/// The counter the instrumented scripts call: a name no tenant function would have.
pub(crate) const HIT_FN: &str = "__qualify_coverage_hit";

thread_local! {
    /// Hits per region id on this thread (cases run on the calling thread).
    static HITS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Counts one entry into region `id` (what [`HIT_FN`] does).
pub(crate) fn hit(id: i64) {
    let Ok(id) = usize::try_from(id) else {
        return;
    };
    HITS.with(|h| {
        let mut h = h.borrow_mut();
        if h.len() <= id {
            h.resize(id + 1, 0);
        }
        h[id] += 1;
    });
}

/// Starts counting afresh on this thread.
pub(crate) fn reset() {
    HITS.with(|h| h.borrow_mut().clear());
}

/// The counts so far on this thread, by region id.
pub(crate) fn hits() -> Vec<u64> {
    HITS.with(|h| h.borrow().clone())
}

/// What kind of block a region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchKind {
    /// The block of an `if` taken when its condition holds.
    Then,
    /// The `else` block of an `if`.
    Else,
    /// The `else` an `if` without one has implicitly: its condition did not hold.
    ImplicitElse,
    /// One arm of a `switch` (the default arm `_` included).
    Case,
}

/// One branch and how often the cases took it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Branch {
    /// The line of the branch's block (`{`), or of the `if` for an implicit `else`.
    pub line: usize,
    /// Its column.
    pub column: usize,
    /// What kind of branch.
    pub kind: BranchKind,
    /// Times taken by the cases.
    pub hits: u64,
}

/// Coverage of one script file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileCoverage {
    /// The file (`tenant/score.rhai`, `default/question.rhai`).
    pub file: PathBuf,
    /// Lines holding a statement of a function.
    pub lines: usize,
    /// Lines of those that ran.
    pub lines_run: usize,
    /// Lines that never ran, in order.
    pub lines_not_run: Vec<usize>,
    /// Every branch of every `if` and `switch`, in order.
    pub branches: Vec<Branch>,
}

impl FileCoverage {
    /// Branches taken at least once.
    pub fn branches_taken(&self) -> usize {
        self.branches.iter().filter(|b| b.hits > 0).count()
    }
}

/// What no case reached: data points never counted, classes never given, questions never
/// chosen (`handoff` among them when the tenant hands off).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Unreached {
    /// Data points (`data_points` in `tenant.yaml`) no case's decision counted.
    pub data_points: Vec<String>,
    /// Classes no case's decision had.
    pub classes: Vec<crate::model::Class>,
    /// Question ids (`questions` in `tenant.yaml`, and `handoff`) no case's decision chose.
    pub questions: Vec<String>,
}

/// A tenant's cases run with coverage: the cases' outcomes, each script's lines and
/// branches, and what no case reached.
#[derive(Clone, Debug, Serialize)]
pub struct Coverage {
    /// The tenant.
    pub tenant: crate::ids::TenantId,
    /// The cases' outcomes (as `qualify test` runs them).
    #[serde(skip)]
    pub cases: super::CasesReport,
    /// Each script the tenant runs (inherited ones included), in merge order.
    pub files: Vec<FileCoverage>,
    /// What no case reached.
    pub unreached: Unreached,
}

/// What a region is for: a branch, or only a block whose lines it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Branch(BranchKind),
    Body,
}

/// One instrumented block.
#[derive(Clone, Debug)]
struct Region {
    id: usize,
    role: Role,
    line: usize,
    column: usize,
    /// Byte offsets of the block in the original text (start inclusive, end exclusive).
    span: (usize, usize),
    /// The function it belongs to.
    function: String,
}

/// One file's regions and statement lines, and its instrumented text.
pub(crate) struct FileMap {
    file: PathBuf,
    regions: Vec<Region>,
    /// (line, byte offset) of every statement inside a function.
    statements: Vec<(usize, usize)>,
    /// Function names defined in the file, each with its body's span.
    functions: Vec<(String, (usize, usize))>,
}

impl FileMap {
    /// True when this is the file `name` (`score.rhai`) of its folder.
    pub(crate) fn is_named(&self, name: &str) -> bool {
        self.file.file_name().is_some_and(|n| n == name)
    }
}

/// Byte offset of a Rhai position (1-based line, 1-based column in characters).
fn offset(text: &str, starts: &[usize], pos: rhai::Position) -> Option<usize> {
    let line = pos.line()?;
    let col = pos.position().unwrap_or(1);
    let start = *starts.get(line.checked_sub(1)?)?;
    let rest = &text[start..];
    Some(
        start
            + rest
                .char_indices()
                .nth(col.saturating_sub(1))
                .map_or(rest.len(), |(i, _)| i),
    )
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The end (exclusive byte offset) of a `switch` arm's expression starting at `from`:
/// the first `,` or `}` outside brackets, strings and comments.
fn arm_end(text: &str, from: usize) -> usize {
    let b = text.as_bytes();
    let (mut depth, mut i) = (0i32, from);
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth -= 1,
            b'}' if depth == 0 => return i,
            b'}' => depth -= 1,
            b',' if depth == 0 => return i,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            q @ (b'"' | b'\'' | b'`') => {
                // A string: skip to its closing quote (escapes skipped; an interpolation
                // inside a back-tick string is skipped with the string).
                let mut interp = 0;
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 1,
                        b'$' if q == b'`' && b.get(i + 1) == Some(&b'{') => {
                            interp += 1;
                            i += 1;
                        }
                        b'}' if interp > 0 => interp -= 1,
                        c if c == q && interp == 0 => break,
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// The start of a `switch` arm whose expression Rhai places at `pos_off` (an operator
/// may come after the arm's first character): just after the `=>` before it.
fn arm_start(text: &str, pos_off: usize) -> Option<usize> {
    let arrow = text[..pos_off].rfind("=>")?;
    let after = arrow + 2;
    let skipped = text[after..].len() - text[after..].trim_start().len();
    Some(after + skipped)
}

/// Instruments one script: its regions (ids from `first_id`), and the text with a
/// counter call at the start of each. `ast` is the file compiled as it is.
pub(crate) fn instrument(src: &Source, ast: &rhai::AST, first_id: usize) -> (FileMap, String) {
    use rhai::{ASTNode, Stmt};
    let text = &src.text;
    let starts = line_starts(text);
    let at = |pos: rhai::Position| offset(text, &starts, pos);
    let mut functions = Vec::new();
    let mut regions: Vec<Region> = Vec::new();
    let mut inserts: Vec<(usize, String)> = Vec::new();
    let mut next = first_id;
    let lc = |pos: rhai::Position| (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
    let mut region = |role: Role,
                      (line, column): (usize, usize),
                      span: (usize, usize),
                      insert: Vec<(usize, String)>,
                      inserts: &mut Vec<(usize, String)>| {
        let id = next;
        next += 1;
        regions.push(Region {
            id,
            role,
            line,
            column,
            span,
            function: String::new(),
        });
        for (off, s) in insert {
            inserts.push((off, s.replace("{id}", &id.to_string())));
        }
    };
    let call = format!("{HIT_FN}({{id}});");
    // Function bodies.
    for f in ast.iter_fn_def() {
        let (start, end) = (f.body.start_position(), f.body.end_position());
        let (Some(open), Some(close)) = (at(start), at(end)) else {
            continue;
        };
        if text.as_bytes().get(open) != Some(&b'{') {
            continue;
        }
        functions.push((f.name.to_string(), (open, close + 1)));
        region(
            Role::Body,
            lc(start),
            (open, close + 1),
            vec![(open + 1, call.clone())],
            &mut inserts,
        );
    }
    let braced = |block: &rhai::StmtBlock| -> Option<(usize, usize)> {
        let open = at(block.position())?;
        let close = at(block.end_position())?;
        (text.as_bytes().get(open) == Some(&b'{') && close > open).then_some((open, close + 1))
    };
    let mut statements = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(ASTNode::Stmt(stmt)) = path.last() else {
            return true;
        };
        if let (Some(line), Some(off)) = (stmt.position().line(), at(stmt.position())) {
            statements.push((line, off));
        }
        match stmt {
            Stmt::If(fc, if_pos) => {
                if let Some(span) = braced(&fc.body) {
                    region(
                        Role::Branch(BranchKind::Then),
                        lc(fc.body.position()),
                        span,
                        vec![(span.0 + 1, call.clone())],
                        &mut inserts,
                    );
                    match braced(&fc.branch) {
                        Some(else_span) => region(
                            Role::Branch(BranchKind::Else),
                            lc(fc.branch.position()),
                            else_span,
                            vec![(else_span.0 + 1, call.clone())],
                            &mut inserts,
                        ),
                        // `else if`: the nested `if` has its own branches.
                        None if !fc.branch.is_empty() => {}
                        None => region(
                            Role::Branch(BranchKind::ImplicitElse),
                            lc(*if_pos),
                            (span.1, span.1),
                            vec![(span.1, format!(" else {{ {HIT_FN}({{id}}) }}"))],
                            &mut inserts,
                        ),
                    }
                }
            }
            Stmt::Switch(sw, _) => {
                for arm in sw.1.expressions.iter() {
                    let Some(start) = at(arm.rhs.position()).and_then(|o| arm_start(text, o))
                    else {
                        continue;
                    };
                    let end = arm_end(text, start);
                    region(
                        Role::Branch(BranchKind::Case),
                        line_col_of(&starts, text, start),
                        (start, end),
                        vec![
                            (start, format!("{{ {HIT_FN}({{id}}); ")),
                            (end, " }".to_string()),
                        ],
                        &mut inserts,
                    );
                }
            }
            Stmt::While(fc, _) | Stmt::Do(fc, ..) => {
                if let Some(span) = braced(&fc.body) {
                    region(
                        Role::Body,
                        lc(fc.body.position()),
                        span,
                        vec![(span.0 + 1, call.clone())],
                        &mut inserts,
                    );
                }
            }
            Stmt::For(f, _) => {
                if let Some(span) = braced(&f.2.body) {
                    region(
                        Role::Body,
                        lc(f.2.body.position()),
                        span,
                        vec![(span.0 + 1, call.clone())],
                        &mut inserts,
                    );
                }
            }
            _ => {}
        }
        true
    });
    // Each region's function: the body holding it.
    for r in &mut regions {
        if let Some((name, _)) = functions
            .iter()
            .find(|(_, (a, b))| *a <= r.span.0 && r.span.0 < *b)
        {
            r.function = name.clone();
        }
    }
    // Statements outside every function never run from a hook: not counted.
    statements.retain(|(_, off)| functions.iter().any(|(_, (a, b))| a <= off && off < b));
    // Insert back to front so earlier offsets stay valid; at one offset, a closing
    // ` }` goes before an opening call (stable order otherwise).
    inserts.sort_by_key(|i| std::cmp::Reverse(i.0));
    let mut out = text.clone();
    for (off, s) in inserts {
        out.insert_str(off, &s);
    }
    let map = FileMap {
        file: src.path.clone(),
        regions,
        statements,
        functions,
    };
    (map, out)
}

fn line_col_of(starts: &[usize], text: &str, off: usize) -> (usize, usize) {
    let line = starts.partition_point(|s| *s <= off);
    let start = starts[line - 1];
    (line, text[start..off].chars().count() + 1)
}

/// Instruments every script of a folder: the folder with instrumented texts, and the
/// maps. `compile` compiles a file's text as it is (for its AST); a file that does not
/// compile is left as it is (the real compile reports it).
pub(crate) fn instrument_folder(
    folder: &Folder,
    first_id: &mut usize,
    compile: &impl Fn(&Source) -> Option<rhai::AST>,
) -> (Folder, Vec<FileMap>) {
    let mut out = folder.clone();
    let mut maps = Vec::new();
    for (name, src) in &folder.scripts {
        let Some(ast) = compile(src) else {
            continue;
        };
        let (map, text) = instrument(src, &ast, *first_id);
        *first_id += map.regions.len();
        if let Some(s) = out.scripts.get_mut(name) {
            s.text = text;
        }
        maps.push(map);
    }
    (out, maps)
}

/// The coverage of each file, from the hits: `files` in merge order (a later file's
/// function replaces an earlier one of the same name, whose regions are then left out).
pub(crate) fn report(files: &[FileMap], hits: &[u64]) -> Vec<FileCoverage> {
    let hit = |id: usize| hits.get(id).copied().unwrap_or(0);
    let winner = |name: &str| {
        files
            .iter()
            .rposition(|f| f.functions.iter().any(|(n, _)| n == name))
    };
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let live = |function: &str| winner(function) == Some(i);
            let regions: Vec<&Region> = f.regions.iter().filter(|r| live(&r.function)).collect();
            let mut lines: std::collections::BTreeMap<usize, bool> = Default::default();
            for (line, off) in &f.statements {
                // The innermost block holding the statement.
                let inner = regions
                    .iter()
                    .filter(|r| r.span.0 <= *off && *off < r.span.1)
                    .min_by_key(|r| r.span.1 - r.span.0);
                let Some(r) = inner else { continue };
                *lines.entry(*line).or_insert(false) |= hit(r.id) > 0;
            }
            let branches = regions
                .iter()
                .filter_map(|r| match r.role {
                    Role::Branch(kind) => Some(Branch {
                        line: r.line,
                        column: r.column,
                        kind,
                        hits: hit(r.id),
                    }),
                    Role::Body => None,
                })
                .collect();
            FileCoverage {
                file: f.file.clone(),
                lines: lines.len(),
                lines_run: lines.values().filter(|run| **run).count(),
                lines_not_run: lines
                    .iter()
                    .filter(|(_, run)| !**run)
                    .map(|(l, _)| *l)
                    .collect(),
                branches,
            }
        })
        .collect()
}
