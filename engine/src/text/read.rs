//! The readers: one function per data point, each reading the phrases and numbers of a
//! scanned message ([`Msg`]) in context: negation ("we don't need a pool"), hedges
//! ("still working on getting pre-qualified"), past events ("we sold our last house in
//! 2019"), and the question the agent just asked ("around 400" after the budget question).

use super::lexicon::Cue;
use super::scan::{Kind, Msg};

/// What the readers know besides the message.
pub(super) struct Ctx<'a> {
    /// The data point the agent's last message asked about (`budget`, `timeline`,
    /// `bedrooms` for the property question, ...).
    pub asked: Option<&'a str>,
    /// The tenant's market (price range): a bare number ("350-400", "around 450") counts
    /// as thousands of dollars only inside it.
    pub market: (f64, f64),
    /// Amounts outside this band are implausible: not counted, asked to confirm.
    pub band: (f64, f64),
    /// Tokens already read as something else (zip codes): never money.
    pub taken: &'a [usize],
}

impl Ctx<'_> {
    fn asked(&self, point: &str) -> bool {
        self.asked == Some(point)
    }
}

fn within(x: f64, (lo, hi): (f64, f64)) -> bool {
    x >= lo && x <= hi
}

/// The budget found: the largest plausible amount, and the largest implausible one.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Budget {
    pub plausible: Option<f64>,
    pub implausible: Option<f64>,
}

/// One amount as written: value, how it was written, and the tokens it spans.
#[derive(Clone, Copy, Debug)]
struct Written {
    n: f64,
    /// Multiplier of a unit after it (k, million), `None` without one.
    unit: Option<f64>,
    /// `mil` after it (thousand or million, by plausibility).
    mil: bool,
    /// `$` before it, or "dollars" after it.
    dollar: bool,
    grouped: bool,
    digits: u8,
    /// The token after it.
    end: usize,
}

fn is_year(n: f64, digits: u8) -> bool {
    digits == 4 && n.fract() == 0.0 && (1900.0..=2100.0).contains(&n)
}

/// Reads budgets. See `Budget`; the rules:
/// - written as money (`$`, a unit, thousands separators): counts at 1,000 or more, when
///   inside the plausible band (else it is the implausible amount);
/// - "N mil": thousands or millions, whichever is plausible ("400 mil" is 400,000,
///   "1.2 mil" 1,200,000); both or neither: thousands from 10 up;
/// - a bare number of 10,000 or more: counts with a budget word in the message or after
///   the budget question;
/// - a bare small number ("450", "350-400", "$450"): thousands, only inside the market
///   and only after the budget question, next to a budget word, or as a range;
/// - never: phone numbers, years, rooms, times, areas, down payments, rent, income, or an
///   amount in a clause about the past ("we paid 250k for it").
pub(super) fn budget(m: &Msg, ctx: &Ctx) -> Budget {
    let mut out = Budget::default();
    let keep = |amount: f64, checked: bool, out: &mut Budget| {
        let slot = if !checked || within(amount, ctx.band) {
            &mut out.plausible
        } else {
            &mut out.implausible
        };
        *slot = Some(slot.map_or(amount, |x: f64| x.max(amount)));
    };
    // Amounts in words.
    let mut covered = 0;
    for h in &m.hits {
        if let Cue::Amount(a) = h.cue {
            if (h.at as usize) < covered || not_budget(m, h.at as usize, h.end as usize) {
                continue;
            }
            covered = h.end as usize;
            keep(a, true, &mut out);
        }
    }
    let budget_word = m.has(Cue::BudgetWord.bit());
    let asked = ctx.asked("budget");
    let toks = &m.toks;
    let mut i = 0;
    while i < toks.len() {
        if toks[i].kind != Kind::Num || ctx.taken.contains(&i) {
            i += 1;
            continue;
        }
        if let Some(skip) = phone(m, i) {
            i = skip;
            continue;
        }
        let a = written(m, i);
        // A range: "300-350k", "300 to 350k", "entre 300 y 400 mil", "350-400".
        let mut b = None;
        let j = a.end;
        let joiner = m.sym(j, b'-')
            || (m.is_any(j, &["to", "a", "or", "o"]) && m.num(j + 1).is_some())
            || (m.is_any(j, &["and", "y"])
                && m.num(j + 1).is_some()
                && (i > 0 && m.is_any(i - 1, &["between", "entre"])));
        if joiner && m.num(j + 1).is_some() && !ctx.taken.contains(&(j + 1)) {
            b = Some(written(m, j + 1));
        }
        let end = b.map_or(a.end, |b| b.end);
        if not_money_after(m, end)
            || not_budget(m, i, end)
            || (m.in_part(i, Cue::Past.bit()) && !asked)
        {
            i = end;
            continue;
        }
        let mut amounts = [Some(a), b];
        if let Some(y) = b {
            // The unit of the upper bound applies to the lower one: "300-350k".
            let mut x = a;
            if x.unit.is_none() && !x.mil && (y.unit.is_some() || y.mil) {
                x.unit = y.unit;
                x.mil = y.mil;
            }
            x.dollar |= y.dollar;
            amounts[0] = Some(x);
        }
        let range = b.is_some();
        let local_word = m.before_in_clause(i, 4, Cue::BudgetWord.bit());
        for w in amounts.into_iter().flatten() {
            let Some((amount, checked)) = value(w, ctx, range, asked, local_word, budget_word)
            else {
                continue;
            };
            keep(amount, checked, &mut out);
        }
        i = end;
    }
    out
}

/// The amount of one written number, and whether the band applies to it (`false`: a
/// bare number already read inside the market). `None`: not a budget.
fn value(
    w: Written,
    ctx: &Ctx,
    range: bool,
    asked: bool,
    local_word: bool,
    budget_word: bool,
) -> Option<(f64, bool)> {
    if let Some(mult) = w.unit {
        let a = w.n * mult;
        return (a >= 1_000.0).then_some((a, true));
    }
    if w.mil {
        let (k, mm) = (w.n * 1e3, w.n * 1e6);
        let a = match (within(k, ctx.band), within(mm, ctx.band)) {
            (true, false) => k,
            (false, true) => mm,
            _ if w.n >= 10.0 => k,
            _ => mm,
        };
        return Some((a, true));
    }
    if (w.grouped || w.dollar) && w.n >= 1_000.0 {
        return Some((w.n, true));
    }
    if w.n >= 10_000.0 {
        return (budget_word || asked).then_some((w.n, true));
    }
    // A bare small number: thousands inside the market, with something saying it is money.
    if is_year(w.n, w.digits) || w.n <= 0.0 {
        return None;
    }
    let k = w.n * 1e3;
    let said = asked || local_word || range || w.dollar;
    (said && within(k, ctx.market)).then_some((k, false))
}

/// The number at `i` with the unit and symbols around it.
fn written(m: &Msg, i: usize) -> Written {
    let t = m.toks[i];
    let mut w = Written {
        n: t.val,
        unit: None,
        mil: false,
        dollar: i > 0 && m.sym(i - 1, b'$'),
        grouped: t.grouped,
        digits: t.digits,
        end: i + 1,
    };
    let mut j = i + 1;
    if let Some(h) = m.at(j, Cue::Unit(0.0).bit() | Cue::Mil.bit()) {
        // "m" and "k" only right after the number or alone ("450k", "1.2 m").
        match h.cue {
            Cue::Unit(x) => w.unit = Some(x),
            _ => w.mil = true,
        }
        j = h.end as usize;
        // "1.5 millones" or "400 mil" with "y medio" is rare enough to ignore.
    }
    // "the 400s": a bare number.
    if w.unit.is_none() && !w.mil && m.is(j, "s") && m.toks[j].glued {
        j += 1;
    }
    if m.at(j, Cue::Dollars.bit()).is_some() {
        w.dollar = true;
        j += 1;
    }
    w.end = j;
    w
}

/// A phone number at `i` ("214-555-0199", "(214) 555 0199", "2145550199"): the token
/// after it.
fn phone(m: &Msg, i: usize) -> Option<usize> {
    let t = m.toks[i];
    let digits = |k: usize| match m.toks.get(k) {
        Some(t) if t.kind == Kind::Num && !t.grouped && t.val.fract() == 0.0 => t.digits,
        _ => 0,
    };
    if t.digits >= 10 && !t.grouped {
        return Some(i + 1);
    }
    let sep = |k: usize| m.sym(k, b'-') || m.sym(k, b'.') || m.sym(k, b')');
    // 3-3-4 or 3-4 with dashes, dots or spaces.
    if digits(i) == 3 {
        let mut k = i + 1;
        if sep(k) {
            k += 1;
        }
        if digits(k) == 3 {
            let mut l = k + 1;
            if sep(l) {
                l += 1;
            }
            if digits(l) == 4 {
                return Some(l + 1);
            }
        }
        if digits(k) == 4 && m.sym(i + 1, b'-') {
            return Some(k + 1);
        }
    }
    None
}

/// A word after a number that makes it something else than money: rooms, time, area.
fn not_money_after(m: &Msg, j: usize) -> bool {
    if m.sym(j, b'%') || m.sym(j, b'/') || m.sym(j, b':') {
        return true;
    }
    m.hits_at(j).iter().any(|h| {
        matches!(
            h.cue,
            Cue::NotMoney | Cue::Bed | Cue::Bath | Cue::TimePeriod | Cue::MustHave(_)
        )
    })
}

/// Money that is not the budget: a down payment, rent, income, near the amount (in the
/// same sentence: "50k down", "para el enganche, unos 60 mil").
fn not_budget(m: &Msg, a: usize, b: usize) -> bool {
    let bit = Cue::NotBudget.bit();
    let stop = |t: &&super::scan::Tok| !matches!(t.kind, Kind::Sym(b'.' | b'!' | b'?'));
    let after = m.toks[b.min(m.toks.len())..]
        .iter()
        .take(3)
        .take_while(stop)
        .any(|t| t.mask & bit != 0);
    let before = m.toks[a.saturating_sub(6)..a]
        .iter()
        .rev()
        .take_while(stop)
        .any(|t| t.mask & bit != 0);
    after || before
}

/// Bedrooms and bathrooms: "3 bed 2 bath", "three bedrooms", "4br/2.5ba", "a 4/3",
/// "3 recámaras y 2 baños", "2 baños y medio"; after the property question a bare "3" or
/// "3 and 2".
pub(super) fn rooms(m: &Msg, ctx: &Ctx) -> (Option<f64>, Option<f64>) {
    let (mut beds, mut baths) = (None, None);
    let count = |i: usize| -> Option<(f64, usize)> {
        if let Some(n) = m.num(i) {
            return (n > 0.0 && n <= 20.0).then_some((n, i + 1));
        }
        m.hits_at(i).iter().find_map(|h| match h.cue {
            Cue::NumWord(n) => Some((f64::from(n), h.end as usize)),
            _ => None,
        })
    };
    let n = m.toks.len();
    let numword = Cue::NumWord(0).bit();
    let mut i = 0;
    while i < n {
        let t = &m.toks[i];
        if t.kind != Kind::Num && t.mask & numword == 0 {
            i += 1;
            continue;
        }
        let Some((v, mut j)) = count(i) else {
            i += 1;
            continue;
        };
        // "4 or 5 bedrooms": the lower bound.
        let mut v = v;
        if (m.is_any(j, &["or", "to", "o", "a"]) || m.sym(j, b'-')) && count(j + 1).is_some() {
            if let Some((_, k)) = count(j + 1) {
                if m.at(k, Cue::Bed.bit() | Cue::Bath.bit()).is_some() {
                    j = k;
                }
            }
        }
        if m.sym(j, b'+') {
            j += 1;
        }
        // "2 1/2 baths", "2 and a half baths".
        if m.num(j) == Some(1.0) && m.sym(j + 1, b'/') && m.num(j + 2) == Some(2.0) {
            v += 0.5;
            j += 3;
        } else if let Some(h) = m.at(j, Cue::AndHalf.bit()) {
            if m.at(h.end as usize, Cue::Bath.bit()).is_some() {
                v += 0.5;
                j = h.end as usize;
            }
        }
        if let Some(h) = m.at(j, Cue::Bed.bit() | Cue::Bath.bit()) {
            if h.is(Cue::Bed) {
                beds.get_or_insert(v);
            } else {
                // "2 baños y medio".
                let half = m.at(h.end as usize, Cue::AndHalf.bit()).is_some() && v.fract() == 0.0;
                baths.get_or_insert(if half { v + 0.5 } else { v });
            }
            i = h.end as usize;
            continue;
        }
        // Shorthand "a 4/3", "3/2 with a pool": beds/baths.
        if m.num(i).is_some() && m.sym(i + 1, b'/') && shorthand(m, i, ctx) {
            if let Some(b) = m.num(i + 2) {
                beds.get_or_insert(v);
                baths.get_or_insert(b);
                i += 3;
                continue;
            }
        }
        i += 1;
    }
    // Short answers to the property question: "3", "3 and 2", "4/3", "tres".
    if beds.is_none() && ctx.asked("bedrooms") && m.words() <= 6 {
        let mut k = 0;
        while k < n {
            if let Some((v, j)) = count(k) {
                if v <= 9.0 && v.fract() == 0.0 {
                    beds = Some(v);
                    let l = if m.is_any(j, &["and", "y", "&"]) || m.sym(j, b'/') {
                        j + 1
                    } else {
                        j
                    };
                    if let Some((b, _)) = count(l).filter(|_| l > j || m.sym(j, b',')) {
                        baths.get_or_insert(b);
                    }
                    break;
                }
                k = j;
            } else {
                k += 1;
            }
        }
    }
    (beds, baths)
}

/// "4/3" at `i` reads as beds/baths: small numbers, not a date, and a property context.
fn shorthand(m: &Msg, i: usize, ctx: &Ctx) -> bool {
    let (Some(a), Some(b)) = (m.num(i), m.num(i + 2)) else {
        return false;
    };
    let t = &m.toks;
    if !(1.0..=9.0).contains(&a) || !(1.0..=9.0).contains(&b) || a.fract() != 0.0 {
        return false;
    }
    if !t[i + 1].glued || !t[i + 2].glued {
        return false;
    }
    // "3/4/2026" is a date.
    if m.sym(i + 3, b'/') && m.toks.get(i + 4).is_some_and(|t| t.digits >= 2) {
        return false;
    }
    if ctx.asked("bedrooms") {
        return true;
    }
    const BEFORE: &[&str] = &[
        "a", "an", "un", "una", "like", "for", "the", "want", "need", "prefer", "minimum",
    ];
    const AFTER: &[&str] = &[
        "house", "home", "casa", "with", "con", "in", "en", "or", "o", "and", "y", "minimum",
        "min", "at",
    ];
    (i > 0 && m.is_any(i - 1, BEFORE)) || m.is_any(i + 3, AFTER)
}

/// Must-have labels in a fixed order, only in a message with a verb of wanting (or room
/// counts, or after the property question) and not negated ("we don't need a pool", "sin
/// alberca"). A wish like "good schools" is no must-have: a tenant that wants it adds an
/// `extract.must_haves` pattern.
pub(super) fn must_haves(m: &Msg, ctx: &Ctx) -> Vec<&'static str> {
    const ORDER: [&str; 7] = [
        "pool",
        "garage",
        "yard",
        "home office",
        "single story",
        "basement",
        "open floor plan",
    ];
    // A list of requirements ("4 bedrooms 3 baths and a pool") or an answer to the property
    // question needs no verb of wanting.
    let listed = m.has(Cue::Bed.bit() | Cue::Bath.bit()) || ctx.asked("bedrooms");
    if !m.has(Cue::Want.bit()) && !listed {
        return Vec::new();
    }
    let mut seen = [false; ORDER.len()];
    for h in &m.hits {
        if let Cue::MustHave(label) = h.cue {
            if m.negated(h.at as usize, 6) {
                continue;
            }
            if let Some(k) = ORDER.iter().position(|l| *l == label) {
                seen[k] = true;
            }
        }
    }
    ORDER
        .iter()
        .zip(seen)
        .filter(|(_, s)| *s)
        .map(|(l, _)| *l)
        .collect()
}

/// A year written as a number (2000-2100).
fn year_at(m: &Msg, i: usize) -> bool {
    m.toks
        .get(i)
        .is_some_and(|t| t.kind == Kind::Num && is_year(t.val, t.digits) && t.val >= 2000.0)
}

/// A quantity of time at `i`: a number, a number word, "a few", "a couple of", "unos",
/// optionally a range ("3-6", "2 or 3", "6 to 12"): the token after it.
fn quantity(m: &Msg, i: usize) -> Option<(usize, bool)> {
    let one = |k: usize| -> Option<usize> {
        if let Some(n) = m.num(k) {
            return (n > 0.0 && n < 100.0 && !m.toks[k].grouped).then_some(k + 1);
        }
        m.hits_at(k)
            .iter()
            .filter(|h| matches!(h.cue, Cue::NumWord(_) | Cue::TimeFew))
            .map(|h| h.end as usize)
            .max()
    };
    let j = one(i)?;
    // "between 6 and 12 months", "entre 3 y 6 meses".
    let between = i > 0 && m.is_any(i - 1, &["between", "entre"]);
    let and = between && m.is_any(j, &["and", "y"]);
    if and || m.sym(j, b'-') || m.is_any(j, &["to", "or", "a", "o"]) {
        if let Some(k) = one(j + 1) {
            if m.num(j + 1).is_some() || m.at(j + 1, Cue::NumWord(0).bit()).is_some() {
                return Some((k, true));
            }
        }
    }
    Some((j, false))
}

/// A timeline expression starting at `i`: its end, and whether it is a date (which a
/// sentence about the past or about repairs makes no timeline).
fn timeline_at(m: &Msg, i: usize, ctx: &Ctx) -> Option<(usize, bool)> {
    let asked = ctx.asked("timeline");
    // Whole phrases: "asap", "no rush", "lo antes posible".
    if let Some(end) = m.end(i, Cue::TimeWhole.bit()) {
        let chat = i > 0 && m.is_any(i - 1, &["talk", "see", "hear", "speak", "chat", "text"]);
        if !chat {
            return Some((end, false));
        }
    }
    if let Some(end) = m.end(i, Cue::TimeEnd.bit()) {
        return Some((end, true));
    }
    // "next month", "this summer", "el próximo mes", "next 6 months".
    if let Some(j) = m.end(i, Cue::TimeNext.bit()) {
        if let Some(end) = m.end(
            j,
            Cue::TimePeriod.bit() | Cue::TimeSeason.bit() | Cue::TimeMonth.bit(),
        ) {
            return Some((end, false));
        }
        if let Some((k, _)) = quantity(m, j) {
            if let Some(end) = m.end(k, Cue::TimePeriod.bit()) {
                return Some((end, false));
            }
        }
    }
    // "el mes que viene", "la semana entrante".
    if let Some(j) = m.end(i, Cue::TimePeriod.bit()) {
        if let Some(end) = m.end(j, Cue::TimeNextAfter.bit()) {
            return Some((end, false));
        }
    }
    // A quantity: "in the next 2 months", "within 6 months", "in about 6 months",
    // "3-6 months", "a few weeks from now", "en 3 meses", "dentro de unos meses".
    let mut j = i;
    let into = m.end(j, Cue::TimeIn.bit());
    if let Some(e) = into {
        j = e;
    }
    let approx = m.end(j, Cue::TimeApprox.bit());
    if let Some(e) = approx {
        j = e;
    }
    if let Some((k, range)) = quantity(m, j) {
        if let Some(mut end) = m.end(k, Cue::TimePeriod.bit()) {
            let after = m.end(end, Cue::TimeAfter.bit());
            let not = m.at(end, Cue::TimeNot.bit()).is_some();
            // "for 6 months", "hace 3 años", "every 2 weeks": a duration, not a date.
            const DURATION: &[&str] = &[
                "for", "past", "last", "every", "cada", "hace", "durante", "been", "lived", "only",
                "first", "about",
            ];
            let duration = i > 0 && m.is_any(i - 1, DURATION) && into.is_none();
            let word_qty = m.num(j).is_none()
                && m.at(j, Cue::NumWord(0).bit()).is_none()
                && into.is_none()
                && after.is_none();
            if !not && !duration && !word_qty {
                let said = into.is_some() || after.is_some() || range || asked;
                let hedged = approx.is_some()
                    && (m.has(Cue::Move.bit() | Cue::Buy.bit() | Cue::Sell.bit())
                        || ctx.asked.is_none());
                if said || hedged {
                    if let Some(e) = after {
                        end = e;
                    }
                    return Some((end, false));
                }
            }
        }
    }
    // A date: "by August", "in the spring", "in 2027", "early next year", "en junio",
    // "a finales de año", "para diciembre". Each reading of the preposition is tried,
    // longest first ("by the end of" before "by").
    let mut preps: Vec<usize> = m
        .hits_at(i)
        .iter()
        .filter(|h| h.is(Cue::TimePrep))
        .map(|h| h.end as usize)
        .collect();
    preps.sort_unstable_by(|a, b| b.cmp(a));
    for p in preps {
        if let Some(end) = date_after(m, i, p) {
            return Some((end, true));
        }
    }
    // "spring 2027", "June 2026".
    if let Some(k) = m.end(i, Cue::TimeSeason.bit() | Cue::TimeMonth.bit()) {
        if year_at(m, k) {
            return Some((k + 1, true));
        }
        if asked && m.words() <= 4 {
            return Some((k, true));
        }
    }
    if asked && year_at(m, i) && m.words() <= 4 {
        return Some((i + 1, true));
    }
    None
}

/// What follows a preposition of time (tokens `i..p`) to make a date: its end.
fn date_after(m: &Msg, i: usize, p: usize) -> Option<usize> {
    let mut j = p;
    if m.is(j, "the") || m.is(j, "el") || m.is(j, "la") || m.is(j, "del") {
        j += 1;
    }
    if let Some(end) = m.end(j, Cue::TimeEnd.bit()) {
        return Some(end);
    }
    if let Some(k) = m.end(j, Cue::TimeNext.bit()) {
        if let Some(end) = m.end(
            k,
            Cue::TimePeriod.bit() | Cue::TimeSeason.bit() | Cue::TimeMonth.bit(),
        ) {
            return Some(end);
        }
    }
    if let Some(k) = m.end(j, Cue::TimeSeason.bit() | Cue::TimeMonth.bit()) {
        return Some(if year_at(m, k) {
            k + 1
        } else if (m.is(k, "of") || m.is(k, "de") || m.is(k, "del")) && year_at(m, k + 1) {
            k + 2
        } else {
            k
        });
    }
    if year_at(m, j) {
        return Some(j + 1);
    }
    // "a finales de año", "by the end of the month": an edge of a period.
    let edge = (i..p).any(|k| {
        m.is_any(
            k,
            &[
                "end",
                "finales",
                "fin",
                "fines",
                "principios",
                "mediados",
                "beginning",
                "middle",
                "start",
            ],
        )
    });
    if edge {
        if let Some(end) = m.end(j, Cue::TimePeriod.bit()) {
            return Some(end);
        }
    }
    None
}

/// The first timeline in the message, as written (lower case). A date in a sentence about
/// the past ("sold our last house in 2019") or about repairs ("new roof in 2021") is no
/// timeline; "just browsing" answers nothing.
pub(super) fn timeline(m: &Msg, ctx: &Ctx) -> Option<String> {
    // Where a timeline may start: a word of time, or a number.
    let start = Cue::TimeWhole.bit()
        | Cue::TimeEnd.bit()
        | Cue::TimeNext.bit()
        | Cue::TimePeriod.bit()
        | Cue::TimeIn.bit()
        | Cue::TimeApprox.bit()
        | Cue::TimePrep.bit()
        | Cue::TimeSeason.bit()
        | Cue::TimeMonth.bit()
        | Cue::TimeFew.bit()
        | Cue::NumWord(0).bit();
    let n = m.toks.len();
    let mut i = 0;
    while i < n {
        let t = &m.toks[i];
        if t.mask & start == 0 && t.kind != Kind::Num {
            i += 1;
            continue;
        }
        let Some((end, date)) = timeline_at(m, i, ctx) else {
            i += 1;
            continue;
        };
        let past = date
            && m.in_part(
                i,
                Cue::Past.bit() | Cue::CondItem.bit() | Cue::CondNew.bit(),
            );
        let negated = m.negated(i, 2) && m.at(i, Cue::TimeWhole.bit()).is_none();
        if past || negated {
            i = end;
            continue;
        }
        // Spanish puts an article first: "el año que viene", "la semana que viene".
        if i > 0 && (m.is(i - 1, "el") || m.is(i - 1, "la")) {
            return Some(m.phrase(i - 1, end));
        }
        return Some(m.phrase(i, end));
    }
    None
}

/// Financing: "pre-approved", "pre-qualified", "cash", "loan" (a program or a lender) or
/// "not started" (a negation or a hedge: "not pre-approved yet", "still working on getting
/// pre-qualified", "need a lender"); after the financing question "yes", "no", "cash".
pub(super) fn financing(m: &Msg, ctx: &Ctx) -> Option<&'static str> {
    let rank = |l: &str| match l {
        "pre-approved" => 5,
        "cash" => 4,
        "pre-qualified" => 3,
        // "FHA, not pre-approved yet": the approval that is missing says more than the
        // program.
        "not started" => 2,
        _ => 1,
    };
    let mut best: Option<&'static str> = None;
    let mut offer = |l: &'static str| {
        if best.is_none_or(|b| rank(l) > rank(b)) {
            best = Some(l);
        }
    };
    for h in &m.hits {
        let i = h.at as usize;
        let asking = || m.asks(i);
        match h.cue {
            Cue::Financing(l @ ("pre-approved" | "pre-qualified")) => {
                let hedged = m.before_in_clause(i, 4, Cue::Hedge.bit());
                if m.negated(i, 4) || hedged || asking() {
                    offer("not started");
                } else {
                    offer(l);
                }
            }
            Cue::Financing("cash") if !m.negated(i, 3) && !asking() => offer("cash"),
            Cue::Financing("cash") => {}
            Cue::Financing(l) => offer(l),
            Cue::Lender => {
                // "my brother is a loan officer", "I work for a lender": a job, not the
                // lead's financing ("we're looking for a lender" is financing).
                let job = i >= 2
                    && m.is_any(i - 1, &["a", "an", "un", "una"])
                    && (m.is_any(
                        i - 2,
                        &["is", "es", "am", "i'm", "im", "he's", "she's", "soy"],
                    ) || (m.is_any(i - 2, &["for", "at", "para", "en"])
                        && i >= 3
                        && m.is_any(i - 3, WORK)));
                if job {
                    continue;
                }
                let hedged = m.before_in_clause(i, 4, Cue::Hedge.bit());
                if m.negated(i, 4) || asking() || hedged {
                    offer("not started");
                } else {
                    offer("loan");
                }
            }
            Cue::Program if !m.negated(i, 3) => offer("loan"),
            Cue::Program => {}
            Cue::Va => {
                // "VA" is a program before "loan" or "benefits", or written in capitals at a
                // clause's end ("we're going VA"); "va" is also Spanish ("va a ser"), and
                // "the VA hospital" is no loan.
                let loan = m.at(i + 1, Cue::Loan.bit()).is_some()
                    || m.is_any(i + 1, &["benefits", "benefit", "eligible", "approved"]);
                let alone =
                    m.toks[i].upper && m.toks.get(i + 1).is_none_or(|t| t.kind != Kind::Word);
                if (loan || alone) && !m.negated(i, 3) {
                    offer("loan");
                }
            }
            _ => {}
        }
    }
    if best.is_none() && ctx.asked("financing") && m.words() <= 8 {
        if m.hits.iter().any(|h| h.is(Cue::No) && h.at <= 1) {
            return Some("not started");
        }
        if m.hits.iter().any(|h| h.is(Cue::Yes) && h.at <= 1) {
            return Some("pre-approved");
        }
        if (0..m.toks.len()).any(|k| m.is_any(k, &["cash", "efectivo", "contado"])) {
            return Some("cash");
        }
    }
    best
}

/// Motivation: the first reason the message gives, by label; else a reason clause
/// ("because of the commute") when the message is about moving or answers the motivation
/// question.
pub(super) fn motivation(m: &Msg, ctx: &Ctx) -> Option<String> {
    for h in &m.hits {
        if let Cue::Motivation(label) = h.cue {
            if !m.negated(h.at as usize, 3) {
                return Some(label.to_string());
            }
        }
    }
    // A one-word answer to the motivation question: "work", "the schools", "espacio".
    if ctx.asked("motivation") && m.words() <= 12 {
        let label = m.hits.iter().find_map(|h| match h.cue {
            Cue::ReasonWord(l) if !m.negated(h.at as usize, 3) => Some(l),
            _ => None,
        });
        if let Some(l) = label {
            return Some(l.to_string());
        }
    }
    let about_moving = m.has(Cue::Move.bit() | Cue::Buy.bit() | Cue::Sell.bit());
    if !(ctx.asked("motivation") || about_moving) {
        return None;
    }
    for h in &m.hits {
        if !h.is(Cue::Reason) {
            continue;
        }
        let from = h.end as usize;
        let clause = m.toks[h.at as usize].clause;
        let end = (from..m.toks.len())
            .take_while(|&k| m.toks[k].clause == clause && m.toks[k].kind == Kind::Word)
            .take(8)
            .last()
            .map(|k| k + 1);
        if let Some(end) = end.filter(|e| e - from >= 2) {
            return Some(m.phrase(h.at as usize, end));
        }
    }
    None
}

/// Home condition: "fixer-upper", "needs work", "move-in ready", or "updated"; from the
/// phrases, or from a part of the house with a repair or an update next to it ("the roof
/// leaks", "new floors", "techo nuevo"). The worst one wins; a negated need ("doesn't need
/// any work") is move-in ready.
pub(super) fn condition(m: &Msg) -> Option<&'static str> {
    let rank = |l: &str| match l {
        "fixer-upper" => 4,
        "needs work" => 3,
        "move-in ready" => 2,
        _ => 1,
    };
    let mut best: Option<&'static str> = None;
    let mut offer = |l: &'static str| {
        if best.is_none_or(|b| rank(l) > rank(b)) {
            best = Some(l);
        }
    };
    for h in &m.hits {
        let i = h.at as usize;
        match h.cue {
            Cue::Condition(l) => {
                let negated = m.negated(i, 4);
                match (l, negated) {
                    ("move-in ready", true) => offer("needs work"),
                    (_, true) => offer("move-in ready"),
                    (l, false) => offer(l),
                }
            }
            Cue::CondItem => {
                let part = m.toks[i].part;
                let near = |bits: u64| {
                    (i.saturating_sub(4)..(i + 5).min(m.toks.len()))
                        .filter(move |&k| m.toks[k].part == part && m.toks[k].mask & bits != 0)
                };
                let bad = near(Cue::CondBad.bit()).find(|&k| {
                    // "a 3 year old roof" is no repair; "we need a big kitchen" is a wish
                    // (the house "needs" one, a person "need"s it).
                    let aged =
                        m.is(k, "old") && k > 0 && m.at(k - 1, Cue::TimePeriod.bit()).is_some();
                    let wish = m.is(k, "need") && k < i;
                    !(aged || wish)
                });
                if let Some(k) = bad {
                    if m.negated(k, 3) {
                        offer("move-in ready");
                    } else {
                        offer("needs work");
                    }
                } else if near(Cue::CondNew.bit()).next().is_some() {
                    offer("updated");
                }
            }
            _ => {}
        }
    }
    best
}

/// `buy` or `sell`, whichever the message says first (not negated; "a listing" is a noun).
pub(super) fn goal(m: &Msg) -> Option<&'static str> {
    for h in &m.hits {
        let i = h.at as usize;
        let g = match h.cue {
            Cue::Buy => "buy",
            Cue::Sell => {
                let noun = i > 0
                    && m.is_any(i - 1, &["a", "the", "your", "this", "that", "my", "new"])
                    && (m.is(i, "listing") || m.is(i, "list"));
                if noun {
                    continue;
                }
                "sell"
            }
            _ => continue,
        };
        if !m.negated(i, 3) {
            return Some(g);
        }
    }
    None
}

/// `wholesale` or `listing`, from the prototype's phrases.
pub(super) fn pathway(m: &Msg) -> Option<&'static str> {
    if m.has(Cue::Wholesale.bit()) {
        Some("wholesale")
    } else if m.has(Cue::Listing.bit())
        || (m.has(Cue::Worth.bit()) && m.has(Cue::WorthObject.bit()))
    {
        Some("listing")
    } else {
        None
    }
}

/// A name after "my name is", "this is", "me llamo", "soy": one capitalised word.
pub(super) fn name(m: &Msg) -> Option<String> {
    for h in &m.hits {
        if !h.is(Cue::NameIntro) {
            continue;
        }
        let k = h.end as usize;
        let Some(t) = m.toks.get(k) else { continue };
        let word = m.original(k, k + 1);
        let ok = t.kind == Kind::Word
            && t.cap
            && (2..=31).contains(&word.chars().count())
            && t.mask & Cue::NotName.bit() == 0;
        if ok {
            return Some(word.to_string());
        }
    }
    None
}

/// Places named after "in", "near", "around", "close to", "en", "cerca de": up to three
/// capitalised words ("in Bishop Arts", "near Round Rock"). Tokens in `skip` (already read
/// as one of the tenant's places) start none.
pub(super) fn places(m: &Msg, skip: &[usize], push: &mut dyn FnMut(String)) {
    for h in &m.hits {
        if !h.is(Cue::PlaceIntro) {
            continue;
        }
        let from = h.end as usize;
        if skip.contains(&from) {
            continue;
        }
        let mut end = from;
        while end < m.toks.len() && end - from < 3 {
            let t = m.toks[end];
            let ok = t.kind == Kind::Word
                && t.cap
                && t.end - t.start >= 2
                && m.text.as_bytes()[t.start as usize].is_ascii_uppercase()
                && t.mask & Cue::NotName.bit() == 0
                && (end == from || !t.glued);
            if !ok {
                break;
            }
            end += 1;
        }
        if end > from {
            push(
                m.original(from, end)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
    }
}

/// A disqualifying signal: `already_bought`, `not_interested`, `wrong_number`,
/// `has_agent`. Not negated ("we don't have an agent"); "already bought" not when the
/// message is about selling; "not interested in condos" is about one thing only.
pub(super) fn disqualified(m: &Msg) -> Option<&'static str> {
    let selling = m.has(Cue::Sell.bit());
    for h in &m.hits {
        let i = h.at as usize;
        let end = h.end as usize;
        let label = match h.cue {
            Cue::Disqualify(l) => l,
            Cue::NotInterested => "not_interested",
            _ => continue,
        };
        if label == "already_bought" && (selling || bought_something_else(m, end)) {
            continue;
        }
        if label != "not_interested" && m.negated(i, 3) {
            continue;
        }
        if h.is(Cue::NotInterested) && !whole_refusal(m, end) {
            continue;
        }
        return Some(label);
    }
    None
}

/// Verbs of working, before "for a lender".
const WORK: &[&str] = &["work", "works", "worked", "working", "trabajo", "trabaja"];

/// "already bought" followed by a determiner and no home within three words: something
/// else was bought ("we just bought our furniture", "ya compramos los muebles"). Without
/// an object ("we already bought", "just closed last week") it is a home.
fn bought_something_else(m: &Msg, end: usize) -> bool {
    const VERBS: &[&str] = &[
        "bought",
        "purchased",
        "closed",
        "buying",
        "compramos",
        "compre",
        "cerramos",
    ];
    const DETERMINERS: &[&str] = &[
        "a", "an", "the", "our", "my", "some", "new", "un", "una", "el", "la", "los", "las",
        "nuestro", "nuestra", "nuestros", "mi", "mis", "unos", "unas",
    ];
    const HOMES: &[&str] = &[
        "house",
        "home",
        "place",
        "one",
        "condo",
        "townhouse",
        "townhome",
        "property",
        "land",
        "lot",
        "casa",
        "propiedad",
        "departamento",
        "terreno",
        "elsewhere",
    ];
    if end == 0 || !m.is_any(end - 1, VERBS) || !m.is_any(end, DETERMINERS) {
        return false;
    }
    let clause = m.toks[end].clause;
    !(end + 1..end + 4)
        .any(|k| m.toks.get(k).is_some_and(|t| t.clause == clause) && m.is_any(k, HOMES))
}

/// After "not interested" / "no me interesa": the end of the sentence or a word that
/// keeps it a refusal of the whole ("in selling", "anymore", "gracias"), not one thing
/// ("in condos", "esa casa").
fn whole_refusal(m: &Msg, end: usize) -> bool {
    let Some(t) = m.toks.get(end) else {
        return true;
    };
    if t.kind != Kind::Word {
        return true;
    }
    const WHOLE: &[&str] = &[
        "anymore", "right", "at", "thanks", "thank", "gracias", "por", "ya", "mas", "now", "for",
        "vender", "comprar", "mudarme", "mudarnos", "sorry", "lo", "siento", "ahora", "ahorita",
        "bye", "please", "pls", "no",
    ];
    let w = m.word(end);
    if WHOLE.contains(&w) {
        return true;
    }
    if w == "in" || w == "en" {
        const OBJECT: &[&str] = &[
            "buying", "selling", "moving", "it", "this", "that", "anything", "your", "the", "a",
            "any", "real", "comprar", "vender", "nada", "eso",
        ];
        return m.is_any(end + 1, OBJECT);
    }
    false
}

/// A "not sure" in the message: the phrase, and the data point the message names.
pub(super) fn unsure(m: &Msg) -> Option<(String, Option<&'static str>)> {
    let h = m.hits.iter().find(|h| h.is(Cue::Unsure))?;
    let topic = m.hits.iter().find_map(|h| match h.cue {
        Cue::Topic(t) => Some(t),
        _ => None,
    });
    Some((m.phrase(h.at as usize, h.end as usize), topic))
}
