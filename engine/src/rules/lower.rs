//! Lowered hooks: a rule set's script functions translated once, at compile time, from
//! Rhai's syntax tree into a smaller tree whose variables are slots and whose calls are
//! resolved, then run without the interpreter's per-node costs (variable look-ups by
//! name, function resolution by hash, a scope entry per `let`, copies of the values a
//! helper is given).
//!
//! Only a subset of Rhai lowers: what rule scripts such as the default's use. `let`,
//! assignment and `+=`-style updates of local variables, `if`, `switch` on constants,
//! `return`, blocks, string interpolation, array and map literals, properties of maps and
//! of `cfg`, indexing, `&&`, `||`, `??`, the arithmetic and comparison operators, calls
//! to the rule set's own functions, and the helpers of `rules/README.md` (with `min`,
//! `max` and `len`). A function using anything else (a loop, `print`, `throw`, a
//! standard-library function not listed) is not lowered, and a hook that reaches one
//! runs on Rhai, as before.
//!
//! At run time, anything this module does not reproduce exactly stops the lowered run
//! ([`Bail`]): an operator on types it does not handle, an overflow, a value near a data
//! limit, an error of a helper, a deep or long call chain, the deadline. The hook then
//! runs again on Rhai, which gives the same result or the same error at the same
//! `file:line:column`. Hooks are functions of their arguments alone (the lowered subset
//! has no output, no state and no clock), so running one twice changes nothing.
//! `engine/tests/lowered.rs` decides thousands of varied leads both ways and compares.

use super::sandbox::{self, Cfg, Limits};
use rhai::{
    ASTFlags, Array, Dynamic, Expr, FnCallExpr, Identifier, ImmutableString, Map, Position, Stmt,
    StmtBlock, AST, FLOAT, INT,
};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// A lowered run stopped: the hook is run again on Rhai, which decides what it means.
#[derive(Debug)]
pub(crate) struct Bail;

type Run<T> = std::result::Result<T, Bail>;

/// Why a function was not lowered (`Rules::interpreted`, `qualify bench`).
type Refusal = String;

/// A rule set's lowered functions, by the name and arity Rhai calls them with.
pub(crate) struct Lowered {
    funcs: Vec<Func>,
    /// The constants holding data behind a reference count (strings, arrays, maps),
    /// which [`Ex::Pooled`] names by index. A run is given them: these, or a thread's own
    /// copy ([`Lowered::own_consts`]), so that threads running one rule set at once do
    /// not all count references on the same strings.
    consts: Vec<Dynamic>,
    /// Hook name and arity → function, for the hooks that lowered with every function
    /// they call (a few entries: a list is the fastest look-up).
    hooks: Vec<(String, usize, usize)>,
    /// The functions that did not lower (directly or through a call), and why.
    pub refused: Vec<(String, Refusal)>,
}

struct Func {
    name: String,
    params: usize,
    /// Slots for its `let` variables, after the parameters.
    locals: usize,
    body: Box<[St]>,
    /// `None` when it lowered; else why not.
    refused: Option<Refusal>,
    /// The script functions it calls (to refuse a caller of a refused function).
    calls: Vec<usize>,
}

/// A block of statements.
type Block = Box<[St]>;

/// A statement.
enum St {
    /// `let x = e` (a new slot) and `x = e`.
    Set(usize, Ex),
    /// `x op= e`.
    Update(usize, Bin, Ex),
    If(Box<(Ex, Block, Block)>),
    Switch(Box<Switch<Block>>),
    Return(Ex),
    Ex(Ex),
    Block(Box<[St]>),
}

/// `switch value { constant => arm, ..., _ => default }`.
struct Switch<A> {
    value: Ex,
    /// Rhai's hash of each case's constant → its arm.
    cases: HashMap<u64, usize>,
    arms: Vec<A>,
    default: Option<usize>,
}

/// An expression; none writes a variable, so evaluating one reads the slots only.
enum Ex {
    /// A constant without shared data (unit, a bool, a number, a character).
    Const(Dynamic),
    /// Any other constant: an index into the run's constants ([`Lowered::consts`]).
    Pooled(usize),
    Slot(usize),
    Interp(Box<[Ex]>),
    Array(Box<[Ex]>),
    /// `#{...}`: its keys in order, each with its value's expression (Rhai's parser
    /// refuses a key given twice).
    Map(Box<[(Identifier, Ex)]>),
    /// `e.name` (a map's entry or a `cfg` setting; `()` when absent).
    Prop(Box<Ex>, ImmutableString),
    /// `e[i]`.
    Index(Box<(Ex, Ex)>),
    /// A call of one of the rule set's functions.
    Script(usize, Box<[Ex]>),
    /// A call of a helper; a method call's object is its first argument.
    Native(Native, Box<[Ex]>),
    And(Box<[Ex]>),
    Or(Box<[Ex]>),
    Coalesce(Box<[Ex]>),
    Bin(Bin, Box<(Ex, Ex)>),
    Not(Box<Ex>),
    Neg(Box<Ex>),
    If(Box<(Ex, Ex, Ex)>),
    Switch(Box<Switch<Ex>>),
    /// Expressions evaluated in order; the last one's value.
    Seq(Box<[Ex]>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Bin {
    fn of(op: &str) -> Option<Bin> {
        Some(match op {
            "+" => Bin::Add,
            "-" => Bin::Sub,
            "*" => Bin::Mul,
            "/" => Bin::Div,
            "%" => Bin::Rem,
            "==" => Bin::Eq,
            "!=" => Bin::Ne,
            "<" => Bin::Lt,
            "<=" => Bin::Le,
            ">" => Bin::Gt,
            ">=" => Bin::Ge,
            _ => return None,
        })
    }
}

/// The helpers a lowered function may call, with Rhai's semantics for the argument
/// types each is registered with (any other types: [`Bail`]).
#[derive(Clone, Copy, Debug)]
enum Native {
    AnsweredPoints,
    TagChanges,
    At,
    LenOf,
    Has,
    FirstMissing,
    Money,
    Matches,
    Prefixed,
    HasTag,
    Answered,
    Unsure,
    SmsSegments,
    Variant,
    Min,
    Max,
    Len,
}

impl Native {
    fn of(name: &str, arity: usize) -> Option<Native> {
        Some(match (name, arity) {
            ("answered_points", 2) => Native::AnsweredPoints,
            ("tag_changes", 3) => Native::TagChanges,
            ("at", 2..=6) => Native::At,
            ("len_of", 2) => Native::LenOf,
            ("has", 2) => Native::Has,
            ("first_missing", 2) => Native::FirstMissing,
            ("money", 1) => Native::Money,
            ("matches", 2) => Native::Matches,
            ("prefixed", 2) => Native::Prefixed,
            ("has_tag", 2) => Native::HasTag,
            ("answered", 1) => Native::Answered,
            ("unsure", 1) => Native::Unsure,
            ("sms_segments", 1) => Native::SmsSegments,
            ("variant", 2) => Native::Variant,
            ("min", 2) => Native::Min,
            ("max", 2) => Native::Max,
            ("len", 1) => Native::Len,
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Lowering
// ---------------------------------------------------------------------------------------

/// Lowers the functions of a rule set's files (in merge order: a later file's function
/// replaces an earlier one of the same name and arity, as when Rhai merges them).
///
/// Rhai shows a function's body only through a walk of the whole tree, which visits the
/// top-level statements, then each function's in the order `iter_fn_def` lists them.
/// Within one file, bodies do not overlap, so each statement belongs to the function
/// whose body's span holds it; a statement that cannot be placed that way refuses the
/// file's functions.
pub(crate) fn lower(files: &[&AST], hooks: &[(&str, usize)]) -> Lowered {
    // Every function's name and arity first: calls resolve against the merged set.
    let mut table: HashMap<(String, usize), usize> = HashMap::new();
    // Per function: the file and the place in that file's list of its live definition.
    let mut live: Vec<(usize, usize)> = Vec::new();
    let mut names: Vec<(String, Vec<String>)> = Vec::new();
    for (file, ast) in files.iter().enumerate() {
        for (j, f) in ast.iter_fn_def().enumerate() {
            let key = (f.name.to_string(), f.params.len());
            let params = f.params.iter().map(|p| p.to_string()).collect();
            match table.get(&key) {
                Some(&i) => {
                    live[i] = (file, j);
                    names[i].1 = params;
                }
                None => {
                    table.insert(key, live.len());
                    live.push((file, j));
                    names.push((f.name.to_string(), params));
                }
            }
        }
    }
    let fn_names: HashMap<&str, ()> = table.keys().map(|(n, _)| (n.as_str(), ())).collect();
    let pool = std::cell::RefCell::new(Vec::new());
    // Per function: its lowering, the statements lowered so far, why it was refused,
    // and where its last statement was (they must come in order).
    type State<'t> = (Lowering<'t>, Vec<St>, Option<Refusal>, (usize, usize));
    let mut states: Vec<State> = names
        .iter()
        .map(|(_, params)| {
            let cx = Lowering {
                table: &table,
                names: &fn_names,
                pool: &pool,
                scope: params.iter().cloned().zip(0..).collect(),
                consts: Vec::new(),
                params: params.len(),
                next: params.len(),
                calls: Vec::new(),
            };
            (cx, Vec::new(), None, (0, 0))
        })
        .collect();
    let at = |p: Position| (p.line().unwrap_or(0), p.position().unwrap_or(0));
    for (file, ast) in files.iter().enumerate() {
        let spans: Vec<_> = ast
            .iter_fn_def()
            .map(|f| (at(f.body.start_position()), at(f.body.end_position())))
            .collect();
        // This file's functions that are live, by their place in its list.
        let owner_of = |j: usize| live.iter().position(|&l| l == (file, j));
        let main = ast.statements().len();
        let mut seen = 0usize;
        let mut unplaced = false;
        ast.walk(&mut |path: &[rhai::ASTNode]| {
            let [rhai::ASTNode::Stmt(stmt)] = path else {
                return true;
            };
            seen += 1;
            if seen <= main {
                return true;
            }
            let pos = at(stmt.position());
            let Some(j) = spans
                .iter()
                .position(|&(a, b)| pos.0 > 0 && a < pos && pos < b)
            else {
                unplaced = true;
                return false;
            };
            let Some(i) = owner_of(j) else {
                return true; // replaced by a later file's function
            };
            let (cx, body, refused, last) = &mut states[i];
            if refused.is_some() {
                return true;
            }
            if pos <= *last {
                *refused = Some("its statements could not be read in order".into());
                return true;
            }
            *last = pos;
            match cx.stmt(stmt) {
                Ok(st) => body.push(st),
                Err(why) => *refused = Some(why),
            }
            true
        });
        if unplaced {
            for (i, &(f, _)) in live.iter().enumerate() {
                if f == file {
                    states[i].2 = Some("its file's functions could not be read".into());
                }
            }
        }
    }
    let mut funcs: Vec<Func> = states
        .into_iter()
        .zip(names)
        .map(|((cx, body, refused, _), (name, params))| Func {
            name,
            params: params.len(),
            locals: cx.next - params.len(),
            body: if refused.is_some() {
                Box::new([])
            } else {
                body.into_boxed_slice()
            },
            refused,
            calls: cx.calls,
        })
        .collect();
    // A function calling a refused one is refused too (until nothing changes).
    loop {
        let mut changed = false;
        for i in 0..funcs.len() {
            if funcs[i].refused.is_some() {
                continue;
            }
            if let Some(&j) = funcs[i].calls.iter().find(|&&j| funcs[j].refused.is_some()) {
                funcs[i].refused = Some(format!(
                    "it calls `{}`, which is not lowered",
                    funcs[j].name
                ));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let hooks = hooks
        .iter()
        .filter_map(|&(name, arity)| {
            let i = *table.get(&(name.to_string(), arity))?;
            funcs[i]
                .refused
                .is_none()
                .then(|| (name.to_string(), arity, i))
        })
        .collect();
    let refused = funcs
        .iter()
        .filter_map(|f| Some((f.name.clone(), f.refused.clone()?)))
        .collect();
    Lowered {
        funcs,
        hooks,
        refused,
        consts: pool.into_inner(),
    }
}

/// The state of lowering one function: variables in scope and the slots they use.
struct Lowering<'t> {
    table: &'t HashMap<(String, usize), usize>,
    /// Names of every script function (a method call of one is refused: Rhai binds
    /// `this` there).
    names: &'t HashMap<&'t str, ()>,
    /// The rule set's constants with shared data, all its functions' ([`Ex::Pooled`]).
    pool: &'t std::cell::RefCell<Vec<Dynamic>>,
    /// Variables in scope, innermost last.
    scope: Vec<(String, usize)>,
    /// Slots of constants (assigning one is refused).
    consts: Vec<usize>,
    /// Its parameters take the first slots (assigning one is refused).
    params: usize,
    next: usize,
    calls: Vec<usize>,
}

/// The hash Rhai files a `switch` case's value under (its `calc_switch_value_hash`, not
/// public): the value hashed with `ahash`'s fixed keys.
fn switch_hash(v: &Dynamic) -> u64 {
    let mut h = ahash::AHasher::default();
    v.hash(&mut h);
    h.finish()
}

/// Refuses `?.` (Rhai's flag `NEGATED` on a chain: `()` short-circuits the rest).
fn plain_chain(flags: ASTFlags) -> Result<(), Refusal> {
    if flags.contains(ASTFlags::NEGATED) {
        return Err("it uses `?.` or `?[`".into());
    }
    Ok(())
}

/// Refuses an index whose right side is not a plain index: Rhai nests `a[i][j]` and
/// `a[i].f()` to the right (`Index(a, Index(i, j))`), marking a terminal index `BREAK`.
fn plain_index(flags: ASTFlags) -> Result<(), Refusal> {
    plain_chain(flags)?;
    if !flags.contains(ASTFlags::BREAK) {
        return Err("it chains an index (`a[i][j]`, `a[i].f()`)".into());
    }
    Ok(())
}

/// Whether [`switch_hash`] agrees with Rhai's, checked on a `switch` Rhai compiled; if
/// not (another `ahash` build, a hashing seed), functions using `switch` are not lowered.
pub(crate) fn switch_hash_agrees(rhai: &rhai::Engine) -> bool {
    let Ok(ast) = rhai.compile("let x = 1; switch x { \"qualify\" => 1, 7 => 2 }") else {
        return false;
    };
    let mut ok = false;
    if let Some(Stmt::Switch(x, _)) = ast.statements().last() {
        let cases = &x.1.cases;
        ok = cases.len() == 2
            && cases.contains_key(&switch_hash(&Dynamic::from("qualify")))
            && cases.contains_key(&switch_hash(&Dynamic::from_int(7)));
    }
    ok
}

static SWITCH_HASH_AGREES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Set once, by the sandbox, from [`switch_hash_agrees`].
pub(crate) fn set_switch_hash_agrees(agrees: bool) {
    let _ = SWITCH_HASH_AGREES.set(agrees);
}

impl Lowering<'_> {
    /// A constant: in place when it holds no shared data, else in the pool.
    fn constant(&self, v: Dynamic) -> Ex {
        if v.is_unit() || v.is_bool() || v.is_int() || v.is_float() || v.is_char() {
            return Ex::Const(v);
        }
        let mut pool = self.pool.borrow_mut();
        pool.push(v);
        Ex::Pooled(pool.len() - 1)
    }

    fn lookup(&self, name: &str) -> Option<usize> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
    }

    fn block(&mut self, b: &StmtBlock) -> Result<Box<[St]>, Refusal> {
        let depth = self.scope.len();
        let out = b
            .iter()
            .map(|s| self.stmt(s))
            .collect::<Result<Vec<_>, _>>();
        self.scope.truncate(depth);
        Ok(out?.into_boxed_slice())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<St, Refusal> {
        Ok(match s {
            Stmt::Noop(_) => St::Block(Box::new([])),
            Stmt::Var(x, flags, _) => {
                let (ident, value, _) = &**x;
                let value = self.expr(value)?;
                let slot = self.next;
                self.next += 1;
                self.scope.push((ident.name.to_string(), slot));
                if flags.contains(ASTFlags::CONSTANT) {
                    self.consts.push(slot);
                }
                St::Set(slot, value)
            }
            Stmt::Assignment(x) => {
                let (op, bin) = &**x;
                let Expr::Variable(v, ..) = &bin.lhs else {
                    return Err("it assigns to a property or an index".into());
                };
                let slot = self
                    .lookup(v.1.as_str())
                    .ok_or_else(|| format!("it assigns to `{}`, not a local variable", v.1))?;
                if slot < self.params {
                    return Err(format!("it assigns to its parameter `{}`", v.1));
                }
                if self.consts.contains(&slot) {
                    return Err(format!("it assigns to the constant `{}`", v.1));
                }
                let value = self.expr(&bin.rhs)?;
                match op.get_op_assignment_info() {
                    None => St::Set(slot, value),
                    Some((.., op_syntax)) => {
                        let op = Bin::of(op_syntax)
                            .filter(|b| matches!(b, Bin::Add | Bin::Sub | Bin::Mul))
                            .ok_or_else(|| format!("it uses `{op_syntax}=`"))?;
                        St::Update(slot, op, value)
                    }
                }
            }
            Stmt::If(x, _) => {
                let cond = self.expr(&x.expr)?;
                let then = self.block(&x.body)?;
                let other = self.block(&x.branch)?;
                St::If(Box::new((cond, then, other)))
            }
            Stmt::Switch(x, _) => {
                let (value, cases) = &**x;
                let value = self.expr(value)?;
                let sw = self.switch(value, cases, |me, e| match e {
                    Expr::Stmt(b) => me.block(b),
                    e => Ok(Box::new([St::Ex(me.expr(e)?)]) as Box<[St]>),
                })?;
                St::Switch(Box::new(sw))
            }
            Stmt::Return(value, flags, _) => {
                if flags.contains(ASTFlags::BREAK) {
                    return Err("it uses `throw`".into());
                }
                St::Return(match value {
                    Some(e) => self.expr(e)?,
                    None => Ex::Const(Dynamic::UNIT),
                })
            }
            Stmt::Expr(e) => St::Ex(self.expr(e)?),
            Stmt::FnCall(f, _) => St::Ex(self.call(f, None)?),
            Stmt::Block(b) => St::Block(self.block(b)?),
            Stmt::While(..) | Stmt::Do(..) | Stmt::For(..) | Stmt::BreakLoop(..) => {
                return Err("it has a loop".into())
            }
            Stmt::TryCatch(..) => return Err("it uses `try`".into()),
            _ => return Err("it uses a statement lowering does not cover".into()),
        })
    }

    fn switch<A>(
        &mut self,
        value: Ex,
        cases: &rhai::SwitchCasesCollection,
        mut arm: impl FnMut(&mut Self, &Expr) -> Result<A, Refusal>,
    ) -> Result<Switch<A>, Refusal> {
        if !SWITCH_HASH_AGREES.get().copied().unwrap_or(false) {
            return Err("it uses `switch` (this build cannot match its cases)".into());
        }
        if !cases.ranges.is_empty() {
            return Err("it uses a `switch` range".into());
        }
        let mut arms = Vec::new();
        let mut index = HashMap::new();
        for (&hash, list) in cases.cases.iter() {
            // Blocks of one case are tried in order; a condition other than a constant
            // is not lowered.
            let mut chosen = None;
            for &i in &list.blocks {
                match cases.expressions[i].lhs {
                    Expr::BoolConstant(true, _) => {
                        chosen = Some(i);
                        break;
                    }
                    Expr::BoolConstant(false, _) => {}
                    _ => return Err("it uses a `switch` case condition".into()),
                }
            }
            if let Some(i) = chosen {
                index.insert(hash, arms.len());
                arms.push(arm(self, &cases.expressions[i].rhs)?);
            }
        }
        let default = match cases.def_case {
            Some(i) => {
                arms.push(arm(self, &cases.expressions[i].rhs)?);
                Some(arms.len() - 1)
            }
            None => None,
        };
        Ok(Switch {
            value,
            cases: index,
            arms,
            default,
        })
    }

    /// A block in an expression (`if` and `switch` as values): its statements must not
    /// write variables.
    fn expr_block(&mut self, b: &StmtBlock) -> Result<Ex, Refusal> {
        let mut out = Vec::new();
        for s in b.iter() {
            out.push(match s {
                Stmt::Expr(e) => self.expr(e)?,
                Stmt::FnCall(f, _) => self.call(f, None)?,
                Stmt::Noop(_) => Ex::Const(Dynamic::UNIT),
                Stmt::Block(b) => self.expr_block(b)?,
                Stmt::If(x, _) => Ex::If(Box::new((
                    self.expr(&x.expr)?,
                    self.expr_block(&x.body)?,
                    self.expr_block(&x.branch)?,
                ))),
                Stmt::Switch(x, _) => {
                    let value = self.expr(&x.0)?;
                    Ex::Switch(Box::new(self.switch(value, &x.1, |me, e| me.expr(e))?))
                }
                _ => return Err("a block used as a value declares or assigns a variable".into()),
            });
        }
        Ok(match out.len() {
            0 => Ex::Const(Dynamic::UNIT),
            1 => out.pop().unwrap_or(Ex::Const(Dynamic::UNIT)),
            _ => Ex::Seq(out.into_boxed_slice()),
        })
    }

    fn exprs<'e>(&mut self, es: impl IntoIterator<Item = &'e Expr>) -> Result<Box<[Ex]>, Refusal> {
        es.into_iter()
            .map(|e| self.expr(e))
            .collect::<Result<Vec<_>, _>>()
            .map(Vec::into_boxed_slice)
    }

    fn expr(&mut self, e: &Expr) -> Result<Ex, Refusal> {
        Ok(match e {
            Expr::DynamicConstant(v, _) => self.constant((**v).clone()),
            Expr::BoolConstant(b, _) => Ex::Const(Dynamic::from_bool(*b)),
            Expr::IntegerConstant(i, _) => Ex::Const(Dynamic::from_int(*i)),
            Expr::FloatConstant(f, _) => Ex::Const(Dynamic::from_float(**f)),
            Expr::CharConstant(c, _) => Ex::Const(Dynamic::from_char(*c)),
            Expr::StringConstant(s, _) => self.constant(Dynamic::from(s.clone())),
            Expr::Unit(_) => Ex::Const(Dynamic::UNIT),
            Expr::InterpolatedString(parts, _) => Ex::Interp(self.exprs(parts.iter())?),
            Expr::Array(items, _) => Ex::Array(self.exprs(items.iter())?),
            Expr::Map(x, _) => {
                let (entries, template) = &**x;
                let mut entries = entries
                    .iter()
                    .map(|(k, v)| Ok((Identifier::from(k.name.as_str()), self.expr(v)?)))
                    .collect::<Result<Vec<_>, Refusal>>()?;
                // Evaluation order does not matter (expressions have no effects).
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                if entries.len() != template.len() || entries.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err("a map literal with repeated keys".into());
                }
                Ex::Map(entries.into_boxed_slice())
            }
            Expr::Variable(v, ..) => Ex::Slot(
                self.lookup(v.1.as_str())
                    .ok_or_else(|| format!("it reads `{}`, not a local variable", v.1))?,
            ),
            Expr::Stmt(b) => self.expr_block(b)?,
            Expr::FnCall(f, _) => self.call(f, None)?,
            Expr::Dot(x, flags, _) => {
                plain_chain(*flags)?;
                let base = self.expr(&x.lhs)?;
                self.chain(base, &x.rhs)?
            }
            Expr::Index(x, flags, _) => {
                plain_index(*flags)?;
                let base = self.expr(&x.lhs)?;
                Ex::Index(Box::new((base, self.expr(&x.rhs)?)))
            }
            Expr::And(x, _) => Ex::And(self.exprs(x.iter())?),
            Expr::Or(x, _) => Ex::Or(self.exprs(x.iter())?),
            Expr::Coalesce(x, _) => Ex::Coalesce(self.exprs(x.iter())?),
            Expr::ThisPtr(_) => return Err("it uses `this`".into()),
            Expr::Property(..) | Expr::MethodCall(..) => {
                return Err("a property or method outside a chain".into())
            }
            _ => return Err("it uses an expression lowering does not cover".into()),
        })
    }

    /// The rest of a chain `base.rhs`: a property, a method call, or a longer chain.
    fn chain(&mut self, base: Ex, rhs: &Expr) -> Result<Ex, Refusal> {
        Ok(match rhs {
            Expr::Property(p, _) => Ex::Prop(Box::new(base), p.2.clone()),
            Expr::MethodCall(f, _) => self.call(f, Some(base))?,
            Expr::Dot(x, flags, _) => {
                plain_chain(*flags)?;
                let inner = self.chain(base, &x.lhs)?;
                self.chain(inner, &x.rhs)?
            }
            Expr::Index(x, flags, _) => {
                plain_index(*flags)?;
                let inner = self.chain(base, &x.lhs)?;
                Ex::Index(Box::new((inner, self.expr(&x.rhs)?)))
            }
            _ => return Err("an unusual chain of properties".into()),
        })
    }

    /// A call: an operator, one of the rule set's functions, or a helper. `object` is a
    /// method call's object (its first argument).
    fn call(&mut self, f: &FnCallExpr, object: Option<Ex>) -> Result<Ex, Refusal> {
        if f.capture_parent_scope {
            return Err(format!("it calls `{}!`", f.name));
        }
        let name = f.name.as_str();
        let arity = f.args.len() + usize::from(object.is_some());
        if object.is_none() && f.op_token.is_some() {
            let mut args = self.exprs(f.args.iter())?.into_vec();
            return match (name, args.len()) {
                ("!", 1) => Ok(Ex::Not(Box::new(args.remove(0)))),
                ("-", 1) => Ok(Ex::Neg(Box::new(args.remove(0)))),
                (op, 2) => {
                    let op = Bin::of(op).ok_or_else(|| format!("it uses the operator `{op}`"))?;
                    let rhs = args.remove(1);
                    let lhs = args.remove(0);
                    Ok(Ex::Bin(op, Box::new((lhs, rhs))))
                }
                (op, _) => Err(format!("it uses the operator `{op}`")),
            };
        }
        if let Some(&i) = self.table.get(&(name.to_string(), arity)) {
            if object.is_some() {
                return Err(format!("it calls its own function `{name}` as a method"));
            }
            self.calls.push(i);
            return Ok(Ex::Script(i, self.exprs(f.args.iter())?));
        }
        if object.is_some() && self.names.contains_key(name) {
            return Err(format!("it calls its own function `{name}` as a method"));
        }
        let native = Native::of(name, arity)
            .ok_or_else(|| format!("it calls `{name}` with {arity} arguments"))?;
        let mut args = Vec::with_capacity(arity);
        args.extend(object);
        for a in f.args.iter() {
            args.push(self.expr(a)?);
        }
        Ok(Ex::Native(native, args.into_boxed_slice()))
    }
}

// ---------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------

/// Operations (statements, calls and expressions) a lowered run may take before it
/// stops, as a fraction of Rhai's limit: Rhai counts differently (more nodes than
/// here), so a run that Rhai would stop for its operations stops here well before.
const OPERATIONS_SHARE: u64 = 8;

/// Calls a lowered run may nest, below Rhai's limit by this margin.
const CALL_LEVELS_MARGIN: usize = 2;

/// One run's counters and limits.
struct Machine<'l> {
    lowered: &'l Lowered,
    /// [`Lowered::consts`], or this thread's copy of them.
    consts: &'l [Dynamic],
    limits: &'l Limits,
    ops: std::cell::Cell<u64>,
    max_ops: u64,
    depth: std::cell::Cell<usize>,
}

/// A function's arguments: a hook's are borrowed (Rhai may need them again), a called
/// function's are its own.
enum Params<'a> {
    Hook(&'a [&'a Dynamic]),
    Call(Vec<Dynamic>),
}

/// A function's variables: its parameters, then its locals.
struct Frame<'a> {
    params: Params<'a>,
    locals: Vec<Dynamic>,
}

impl Frame<'_> {
    fn params(&self) -> usize {
        match &self.params {
            Params::Hook(p) => p.len(),
            Params::Call(p) => p.len(),
        }
    }

    #[inline]
    fn get(&self, slot: usize) -> &Dynamic {
        let param = match &self.params {
            Params::Hook(p) => p.get(slot).copied(),
            Params::Call(p) => p.get(slot),
        };
        match param {
            Some(v) => v,
            None => &self.locals[slot - self.params()],
        }
    }

    /// A local variable (lowering refuses assignments to parameters).
    #[inline]
    fn slot_mut(&mut self, slot: usize) -> Run<&mut Dynamic> {
        let i = slot.checked_sub(self.params()).ok_or(Bail)?;
        Ok(&mut self.locals[i])
    }
}

/// A value read in place (a variable, a constant) or computed.
enum Val<'a> {
    Ref(&'a Dynamic),
    Own(Dynamic),
}

impl std::ops::Deref for Val<'_> {
    type Target = Dynamic;

    fn deref(&self) -> &Dynamic {
        match self {
            Val::Ref(v) => v,
            Val::Own(v) => v,
        }
    }
}

/// Flow out of a statement.
enum Flow {
    Next(Dynamic),
    Return(Dynamic),
}

impl Lowered {
    /// Nothing lowered: every hook runs on Rhai.
    pub fn none() -> Self {
        Self {
            funcs: Vec::new(),
            hooks: Vec::new(),
            refused: vec![("*".into(), "lowering is turned off".into())],
            consts: Vec::new(),
        }
    }

    /// The function of `hook(…arity)` when it runs lowered.
    pub fn hook(&self, hook: &str, arity: usize) -> Option<usize> {
        self.hooks
            .iter()
            .find(|(name, n, _)| *n == arity && name == hook)
            .map(|&(.., i)| i)
    }

    /// The constants a run reads ([`Ex::Pooled`]), as lowering made them.
    pub fn consts(&self) -> &[Dynamic] {
        &self.consts
    }

    /// A copy of [`Lowered::consts`] sharing nothing with them, for one thread's runs.
    pub fn own_consts(&self) -> Vec<Dynamic> {
        self.consts.iter().map(super::values::unshared).collect()
    }

    /// Runs a hook's function (from [`Lowered::hook`]) with `consts` (the rule set's
    /// [`Lowered::consts`] or a thread's [`Lowered::own_consts`]); `Err(Bail)` when the
    /// run stopped and the hook must run on Rhai.
    pub fn run(
        &self,
        i: usize,
        args: &[&Dynamic],
        limits: &Limits,
        consts: &[Dynamic],
    ) -> Run<Dynamic> {
        if consts.len() != self.consts.len() {
            return Err(Bail);
        }
        let m = Machine {
            lowered: self,
            consts,
            limits,
            ops: std::cell::Cell::new(0),
            max_ops: limits.max_operations / OPERATIONS_SHARE,
            depth: std::cell::Cell::new(0),
        };
        m.call(i, Params::Hook(args))
    }
}

impl<'l> Machine<'l> {
    #[inline]
    fn tick(&self, n: u64) -> Run<()> {
        let ops = self.ops.get() + n;
        self.ops.set(ops);
        if ops > self.max_ops {
            return Err(Bail);
        }
        // The clock, as Rhai looks at it: every 4,096 operations.
        if ops / 4096 != (ops - n) / 4096 && sandbox::past_deadline_now() {
            return Err(Bail);
        }
        Ok(())
    }

    fn call(&self, i: usize, args: Params) -> Run<Dynamic> {
        let f = &self.lowered.funcs[i];
        let depth = self.depth.get() + 1;
        if depth + CALL_LEVELS_MARGIN > self.limits.max_call_levels {
            return Err(Bail);
        }
        self.depth.set(depth);
        self.tick(1)?;
        let mut frame = Frame {
            params: args,
            locals: vec![Dynamic::UNIT; f.locals],
        };
        if frame.params() != f.params {
            return Err(Bail);
        }
        let out = match self.block(&f.body, &mut frame)? {
            Flow::Next(v) | Flow::Return(v) => v,
        };
        self.depth.set(depth - 1);
        Ok(out)
    }

    fn block(&self, stmts: &[St], f: &mut Frame) -> Run<Flow> {
        let mut last = Dynamic::UNIT;
        for s in stmts {
            match self.stmt(s, f)? {
                Flow::Next(v) => last = v,
                ret => return Ok(ret),
            }
        }
        Ok(Flow::Next(last))
    }

    fn stmt(&self, s: &St, f: &mut Frame) -> Run<Flow> {
        self.tick(1)?;
        Ok(match s {
            St::Set(slot, e) => {
                let v = self.eval(e, f)?;
                *f.slot_mut(*slot)? = v;
                Flow::Next(Dynamic::UNIT)
            }
            St::Update(slot, op, e) => {
                let v = self.eval(e, f)?;
                let target = f.slot_mut(*slot)?;
                update(target, *op, v, self.limits)?;
                Flow::Next(Dynamic::UNIT)
            }
            St::If(x) => {
                let (cond, then, other) = &**x;
                let go = truth(&*self.val(cond, f)?)?;
                if go {
                    self.block(then, f)?
                } else {
                    self.block(other, f)?
                }
            }
            St::Switch(x) => {
                let arm = pick(x, &*self.val(&x.value, f)?)?;
                match arm {
                    Some(arm) => self.block(arm, f)?,
                    None => Flow::Next(Dynamic::UNIT),
                }
            }
            St::Return(e) => Flow::Return(self.eval(e, f)?),
            St::Ex(e) => Flow::Next(self.eval(e, f)?),
            St::Block(b) => self.block(b, f)?,
        })
    }

    /// The value of `e`, not copied when it is a variable or a constant (operands and
    /// conditions only read it).
    fn val<'a>(&self, e: &'a Ex, f: &'a Frame) -> Run<Val<'a>>
    where
        'l: 'a,
    {
        match e {
            Ex::Const(v) => {
                self.tick(1)?;
                Ok(Val::Ref(v))
            }
            Ex::Pooled(i) => {
                self.tick(1)?;
                Ok(Val::Ref(&self.consts[*i]))
            }
            Ex::Slot(s) => {
                self.tick(1)?;
                Ok(Val::Ref(f.get(*s)))
            }
            other => self.eval(other, f).map(Val::Own),
        }
    }

    /// The value of `e` (owned).
    fn eval(&self, e: &Ex, f: &Frame) -> Run<Dynamic> {
        self.tick(1)?;
        Ok(match e {
            Ex::Const(v) => v.clone(),
            Ex::Pooled(i) => self.consts[*i].clone(),
            Ex::Slot(s) => f.get(*s).clone(),
            Ex::Interp(parts) => {
                let mut s = String::with_capacity(64);
                for p in parts.iter() {
                    let _ = self.peek(p, f, &mut |v| {
                        append_text(&mut s, v)?;
                        Ok(Dynamic::UNIT)
                    })?;
                    if s.len() > self.limits.max_string_size {
                        return Err(Bail);
                    }
                }
                Dynamic::from(ImmutableString::from(s))
            }
            Ex::Array(items) => {
                let a = items
                    .iter()
                    .map(|x| self.eval(x, f))
                    .collect::<Run<Array>>()?;
                checked(Dynamic::from_array(a), self.limits)?
            }
            Ex::Map(entries) => {
                let m = entries
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.eval(v, f)?)))
                    .collect::<Run<Map>>()?;
                checked(Dynamic::from_map(m), self.limits)?
            }
            Ex::Prop(..) | Ex::Index(..) => self.peek(e, f, &mut |v| Ok(v.clone()))?,
            Ex::Script(i, args) => {
                let args = args
                    .iter()
                    .map(|a| self.eval(a, f))
                    .collect::<Run<Vec<_>>>()?;
                self.call(*i, Params::Call(args))?
            }
            Ex::Native(n, args) => self.native(*n, args, f)?,
            Ex::And(xs) => {
                for x in xs.iter() {
                    if !truth(&*self.val(x, f)?)? {
                        return Ok(Dynamic::FALSE);
                    }
                }
                Dynamic::TRUE
            }
            Ex::Or(xs) => {
                for x in xs.iter() {
                    if truth(&*self.val(x, f)?)? {
                        return Ok(Dynamic::TRUE);
                    }
                }
                Dynamic::FALSE
            }
            Ex::Coalesce(xs) => {
                let mut v = Dynamic::UNIT;
                for x in xs.iter() {
                    v = self.eval(x, f)?;
                    if !v.is_unit() {
                        break;
                    }
                }
                v
            }
            Ex::Bin(op, x) => {
                let (a, b) = &**x;
                let a = self.val(a, f)?;
                let b = self.val(b, f)?;
                binary(*op, &a, &b, self.limits)?
            }
            Ex::Not(x) => Dynamic::from_bool(!truth(&*self.val(x, f)?)?),
            Ex::Neg(x) => {
                let v = self.eval(x, f)?;
                if let Ok(i) = v.as_int() {
                    Dynamic::from_int(i.checked_neg().ok_or(Bail)?)
                } else if let Ok(x) = v.as_float() {
                    Dynamic::from_float(-x)
                } else {
                    return Err(Bail);
                }
            }
            Ex::If(x) => {
                let (cond, then, other) = &**x;
                if truth(&*self.val(cond, f)?)? {
                    self.eval(then, f)?
                } else {
                    self.eval(other, f)?
                }
            }
            Ex::Switch(x) => {
                let value = self.val(&x.value, f)?;
                match pick(x, &value)? {
                    Some(arm) => self.eval(arm, f)?,
                    None => Dynamic::UNIT,
                }
            }
            Ex::Seq(xs) => {
                let mut v = Dynamic::UNIT;
                for x in xs.iter() {
                    v = self.eval(x, f)?;
                }
                v
            }
        })
    }

    /// Hands `k` the value of `e` without copying it when it is a variable, a constant,
    /// or a property or element of one (a lead's facts are read in place).
    fn peek(&self, e: &Ex, f: &Frame, k: &mut dyn FnMut(&Dynamic) -> Run<Dynamic>) -> Run<Dynamic> {
        match e {
            Ex::Slot(s) => k(f.get(*s)),
            Ex::Const(v) => k(v),
            Ex::Pooled(i) => k(&self.consts[*i]),
            Ex::Prop(base, name) => {
                self.tick(1)?;
                self.peek(base, f, &mut |v| property(v, name, self.limits, k))
            }
            Ex::Index(x) => {
                self.tick(1)?;
                let index = self.eval(&x.1, f)?;
                self.peek(&x.0, f, &mut |v| element(v, &index, self.limits, k))
            }
            other => {
                let v = self.eval(other, f)?;
                k(&v)
            }
        }
    }

    fn native(&self, n: Native, args: &[Ex], f: &Frame) -> Run<Dynamic> {
        /// Arguments after the first, at most (`cfg.at(...)` with a path of five).
        const MAX_REST: usize = 5;
        // The first argument (a method's object: `lead`, `cfg`) is read in place;
        // variables and constants among the others are passed by reference (a copy of a
        // shared string is a reference count every core's decisions would contend on),
        // the rest evaluated.
        let Some((first, rest)) = args.split_first() else {
            return Err(Bail);
        };
        if rest.len() > MAX_REST {
            return Err(Bail);
        }
        let mut owned: [Dynamic; MAX_REST] = std::array::from_fn(|_| Dynamic::UNIT);
        for (i, a) in rest.iter().enumerate() {
            if !matches!(a, Ex::Const(_) | Ex::Pooled(_) | Ex::Slot(_)) {
                owned[i] = self.eval(a, f)?;
            }
        }
        let refs: [&Dynamic; MAX_REST] = std::array::from_fn(|i| match rest.get(i) {
            Some(Ex::Const(v)) => v,
            Some(Ex::Pooled(i)) => &self.consts[*i],
            Some(Ex::Slot(s)) => f.get(*s),
            _ => &owned[i],
        });
        let rest = &refs[..rest.len()];
        let out = self.peek(first, f, &mut |obj| call_native(n, obj, rest))?;
        checked(out, self.limits)
    }
}

/// A property: a map's entry or a `cfg` setting, `()` when absent (as Rhai reads them).
fn property(
    v: &Dynamic,
    name: &str,
    limits: &Limits,
    k: &mut dyn FnMut(&Dynamic) -> Run<Dynamic>,
) -> Run<Dynamic> {
    if let Some(m) = v.read_lock::<Map>() {
        return k(m.get(name).unwrap_or(&Dynamic::UNIT));
    }
    if let Some(c) = v.read_lock::<Cfg>() {
        // Rhai tries a getter before the indexer, and its standard package has one
        // for any value: `tag`.
        if name == "tag" {
            return Err(Bail);
        }
        return setting(&c, name, limits, k);
    }
    Err(Bail)
}

/// A `cfg` setting (`()` when absent), held to the data limits: Rhai reads it through a
/// native getter or indexer, whose result it checks (a setting may be larger than a
/// script may hold).
fn setting(
    c: &Cfg,
    key: &str,
    limits: &Limits,
    k: &mut dyn FnMut(&Dynamic) -> Run<Dynamic>,
) -> Run<Dynamic> {
    let value = c.0.get(key).unwrap_or(&Dynamic::UNIT);
    within_limits(value, limits)?;
    k(value)
}

/// An element: an array's by a non-negative index within it, a map's or a `cfg`
/// setting by a string key (`()` when absent).
fn element(
    v: &Dynamic,
    index: &Dynamic,
    limits: &Limits,
    k: &mut dyn FnMut(&Dynamic) -> Run<Dynamic>,
) -> Run<Dynamic> {
    if let Some(a) = v.read_lock::<Array>() {
        let i = index.as_int().map_err(|_| Bail)?;
        let i = usize::try_from(i).map_err(|_| Bail)?;
        return k(a.get(i).ok_or(Bail)?);
    }
    let key = index.read_lock::<ImmutableString>().ok_or(Bail)?;
    if let Some(m) = v.read_lock::<Map>() {
        return k(m.get(key.as_str()).unwrap_or(&Dynamic::UNIT));
    }
    if let Some(c) = v.read_lock::<Cfg>() {
        return setting(&c, &key, limits, k);
    }
    Err(Bail)
}

/// The case a `switch` takes, as Rhai picks it: by the value's hash.
fn pick<'s, A>(sw: &'s Switch<A>, value: &Dynamic) -> Run<Option<&'s A>> {
    let hashable = value.is_unit()
        || value.is_string()
        || value.as_int().is_ok()
        || value.as_bool().is_ok()
        || value.as_char().is_ok();
    if !hashable {
        return Err(Bail);
    }
    let arm = sw.cases.get(&switch_hash(value)).copied().or(sw.default);
    Ok(arm.map(|i| &sw.arms[i]))
}

/// A condition's value: Rhai requires a `bool`.
fn truth(v: &Dynamic) -> Run<bool> {
    v.as_bool().map_err(|_| Bail)
}

/// Appends a value as string interpolation writes it (strings, integers, booleans and
/// characters; anything else is formatted by Rhai).
fn append_text(s: &mut String, v: &Dynamic) -> Run<()> {
    use std::fmt::Write;
    if let Some(t) = v.read_lock::<ImmutableString>() {
        s.push_str(&t);
    } else if let Ok(i) = v.as_int() {
        let _ = write!(s, "{i}");
    } else if let Ok(b) = v.as_bool() {
        s.push_str(if b { "true" } else { "false" });
    } else if let Ok(c) = v.as_char() {
        s.push(c);
    } else {
        return Err(Bail);
    }
    Ok(())
}

/// `v`, unless it is over one of the data limits (Rhai stops there with an error).
fn checked(v: Dynamic, limits: &Limits) -> Run<Dynamic> {
    within_limits(&v, limits)?;
    Ok(v)
}

fn within_limits(v: &Dynamic, limits: &Limits) -> Run<()> {
    // Scalars (most values) have nothing to walk.
    if !(v.is_string() || v.is_array() || v.is_map()) {
        return Ok(());
    }
    let sizes = super::values::data_sizes(v);
    let over = |n: usize, max: usize| max > 0 && n > max;
    if over(sizes.items, limits.max_array_size)
        || over(sizes.entries, limits.max_map_size)
        || over(sizes.bytes, limits.max_string_size)
    {
        return Err(Bail);
    }
    Ok(())
}

/// A comparison with a float, as Rhai's checked build makes it: relative to the larger
/// magnitude, within `FLOAT::EPSILON` counts as equal (`0.1 + 0.2 == 0.3` is true).
fn float_compare(op: Bin, x: FLOAT, y: FLOAT) -> bool {
    let max = if x * y == 0.0 {
        1.0
    } else {
        x.abs().max(y.abs())
    };
    if max == 0.0 {
        return matches!(op, Bin::Eq | Bin::Ge | Bin::Le);
    }
    match op {
        Bin::Eq => (x - y).abs() / max <= FLOAT::EPSILON,
        Bin::Ne => (x - y).abs() / max > FLOAT::EPSILON,
        Bin::Gt => (x - y) / max > FLOAT::EPSILON,
        Bin::Ge => (x - y) / max > -FLOAT::EPSILON,
        Bin::Lt => (y - x) / max > FLOAT::EPSILON,
        Bin::Le => (y - x) / max > -FLOAT::EPSILON,
        _ => false,
    }
}

/// The numeric value of an integer or a float.
fn number(v: &Dynamic) -> Option<FLOAT> {
    v.as_int()
        .map(|i| i as FLOAT)
        .or_else(|_| v.as_float())
        .ok()
}

/// A binary operator on the types Rhai's built-in operators cover the same way here.
fn binary(op: Bin, a: &Dynamic, b: &Dynamic, limits: &Limits) -> Run<Dynamic> {
    use std::cmp::Ordering;
    let cmp = |o: Option<Ordering>| -> Run<Dynamic> {
        let o = o.ok_or(Bail)?;
        Ok(Dynamic::from_bool(match op {
            Bin::Eq => o == Ordering::Equal,
            Bin::Ne => o != Ordering::Equal,
            Bin::Lt => o == Ordering::Less,
            Bin::Le => o != Ordering::Greater,
            Bin::Gt => o == Ordering::Greater,
            Bin::Ge => o != Ordering::Less,
            _ => return Err(Bail),
        }))
    };
    let comparison = !matches!(op, Bin::Add | Bin::Sub | Bin::Mul | Bin::Div | Bin::Rem);
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        if comparison {
            return cmp(Some(x.cmp(&y)));
        }
        let v = match op {
            Bin::Add => x.checked_add(y),
            Bin::Sub => x.checked_sub(y),
            Bin::Mul => x.checked_mul(y),
            Bin::Div => x.checked_div(y),
            Bin::Rem => x.checked_rem(y),
            _ => None,
        };
        return v.map(Dynamic::from_int).ok_or(Bail);
    }
    let numeric = |v: &Dynamic| v.as_int().is_ok() || v.as_float().is_ok();
    if numeric(a) && numeric(b) {
        let (x, y) = (number(a).ok_or(Bail)?, number(b).ok_or(Bail)?);
        if comparison {
            return Ok(Dynamic::from_bool(float_compare(op, x, y)));
        }
        // Division by zero and results that are not finite are left to Rhai (its
        // float operators differ there from IEEE arithmetic).
        if matches!(op, Bin::Div | Bin::Rem) && y == 0.0 {
            return Err(Bail);
        }
        let v = match op {
            Bin::Add => x + y,
            Bin::Sub => x - y,
            Bin::Mul => x * y,
            Bin::Div => x / y,
            Bin::Rem => x % y,
            _ => return Err(Bail),
        };
        return if v.is_finite() {
            Ok(Dynamic::from_float(v))
        } else {
            Err(Bail)
        };
    }
    if let (Some(x), Some(y)) = (
        a.read_lock::<ImmutableString>(),
        b.read_lock::<ImmutableString>(),
    ) {
        if comparison {
            return cmp(Some(x.as_str().cmp(y.as_str())));
        }
        if op == Bin::Add {
            if x.len() + y.len() > limits.max_string_size {
                return Err(Bail);
            }
            let mut s = String::with_capacity(x.len() + y.len());
            s.push_str(&x);
            s.push_str(&y);
            return Ok(Dynamic::from(ImmutableString::from(s)));
        }
        return Err(Bail);
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        if comparison {
            return cmp(Some(x.cmp(&y)));
        }
        return Err(Bail);
    }
    if a.is_unit() && b.is_unit() && matches!(op, Bin::Eq | Bin::Ne) {
        return Ok(Dynamic::from_bool(op == Bin::Eq));
    }
    // Two different types, one of them `()` or a boolean: Rhai's built-in rule (no
    // registered function compares them) is "not equal" and every order false.
    let plain = |v: &Dynamic| v.is_unit() || v.as_bool().is_ok();
    if comparison && (plain(a) || plain(b)) && a.type_name() != b.type_name() {
        return Ok(Dynamic::from_bool(op == Bin::Ne));
    }
    Err(Bail)
}

/// `target op= v` for a local variable.
fn update(target: &mut Dynamic, op: Bin, v: Dynamic, limits: &Limits) -> Run<()> {
    if op == Bin::Add {
        // `list += item` pushes, `list += list` appends (Rhai's `push` and `append`).
        if let Some(mut list) = target.write_lock::<Array>() {
            if v.is_array() {
                list.extend(v.into_array().map_err(|_| Bail)?);
            } else {
                list.push(v);
            }
            drop(list);
            return within_limits(target, limits);
        }
    }
    let out = binary(op, target, &v, limits)?;
    *target = out;
    Ok(())
}

/// A helper, as it is registered in the sandbox; `obj` is its first argument.
fn text(v: &Dynamic) -> Option<rhai::DynamicReadLock<'_, ImmutableString>> {
    v.read_lock::<ImmutableString>()
}

fn array(v: &Dynamic) -> Option<rhai::DynamicReadLock<'_, Array>> {
    v.read_lock::<Array>()
}

fn call_native(n: Native, obj: &Dynamic, rest: &[&Dynamic]) -> Run<Dynamic> {
    Ok(match n {
        Native::AnsweredPoints => {
            let lead = obj.read_lock::<Map>().ok_or(Bail)?;
            if let Some(points) = rest[0].read_lock::<Array>() {
                Dynamic::from_array(sandbox::answered_points(&lead, &points))
            } else if let Some(c) = rest[0].read_lock::<Cfg>() {
                Dynamic::from_array(sandbox::answered_points_in_cfg(&lead, &c))
            } else {
                return Err(Bail);
            }
        }
        Native::TagChanges => {
            let lead = obj.read_lock::<Map>().ok_or(Bail)?;
            let class = text(rest[1]).ok_or(Bail)?;
            if let Some(tags) = rest[0].read_lock::<Map>() {
                Dynamic::from_map(sandbox::tag_changes(&lead, &tags, &class))
            } else if let Some(c) = rest[0].read_lock::<Cfg>() {
                Dynamic::from_map(sandbox::tag_changes_in_cfg(&lead, &c, &class))
            } else {
                return Err(Bail);
            }
        }
        Native::At => {
            let c = obj.read_lock::<Cfg>().ok_or(Bail)?;
            sandbox::at(&c.0, rest)
        }
        Native::LenOf => {
            let c = obj.read_lock::<Cfg>().ok_or(Bail)?;
            let key = text(rest[0]).ok_or(Bail)?;
            Dynamic::from_int(sandbox::len_of(&c, &key))
        }
        Native::Has => {
            let list = obj.read_lock::<Array>().ok_or(Bail)?;
            let item = text(rest[0]).ok_or(Bail)?;
            Dynamic::from_bool(sandbox::has(&list, &item))
        }
        Native::FirstMissing => {
            let list = array(obj).ok_or(Bail)?;
            let done = array(rest[0]).ok_or(Bail)?;
            sandbox::first_missing(&list, &done)
        }
        Native::Money => sandbox::money(obj),
        Native::Matches => {
            let t = text(obj).ok_or(Bail)?;
            let pattern = text(rest[0]).ok_or(Bail)?;
            Dynamic::from_bool(
                sandbox::cached_regex(&pattern)
                    .map_err(|_| Bail)?
                    .is_match(&t),
            )
        }
        Native::Prefixed => {
            let prefix = text(obj).ok_or(Bail)?;
            Dynamic::from_array(sandbox::prefixed(&prefix, rest[0]))
        }
        Native::HasTag => {
            let tags = obj.read_lock::<Array>().ok_or(Bail)?;
            let tag = text(rest[0]).ok_or(Bail)?;
            Dynamic::from_bool(sandbox::carries(&tags, &tag))
        }
        Native::Answered => Dynamic::from_bool(sandbox::answered(obj)),
        Native::Unsure => Dynamic::from_bool(sandbox::unsure(obj)),
        Native::SmsSegments => {
            let t = text(obj).ok_or(Bail)?;
            Dynamic::from_int(crate::text::sms::segments(&t) as INT)
        }
        Native::Variant => {
            let lead = obj.read_lock::<Map>().ok_or(Bail)?;
            let key = text(rest[0]).ok_or(Bail)?;
            sandbox::variant(&lead, &key).map_err(|_| Bail)?
        }
        Native::Min | Native::Max => {
            let (a, b) = (
                obj.as_int().map_err(|_| Bail)?,
                rest[0].as_int().map_err(|_| Bail)?,
            );
            Dynamic::from_int(if matches!(n, Native::Min) {
                a.min(b)
            } else {
                a.max(b)
            })
        }
        Native::Len => {
            if let Some(a) = obj.read_lock::<Array>() {
                Dynamic::from_int(a.len() as INT)
            } else if let Some(m) = obj.read_lock::<Map>() {
                Dynamic::from_int(m.len() as INT)
            } else if let Some(s) = obj.read_lock::<ImmutableString>() {
                Dynamic::from_int(s.chars().count() as INT)
            } else {
                return Err(Bail);
            }
        }
    })
}
