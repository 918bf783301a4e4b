//! One message as tokens: words folded to lower-case ASCII (accents dropped: "recámaras"
//! reads `recamaras`), numbers with their value, and punctuation; each word looked up once
//! in the lexicon, the phrases found, and the scopes the readers need (clauses for
//! negation, parts for past tense).
//!
//! This replaces one regular expression per pattern: a message is read once, left to
//! right, and every phrase of the lexicon is found by a hash look-up of its first word, so
//! the cost grows with the message, not with the size of the vocabulary (English and
//! Spanish together).

use super::lexicon::{second_bit, Cue, Lexicon, Phrase};

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Letters (and inner apostrophes), folded into [`Msg::norm`].
    Word,
    /// Digits, with thousands separators or a decimal point inside.
    Num,
    /// One punctuation mark or symbol: `$ % / - + # . , ! ? ; : (` ...
    Sym(u8),
}

/// One token and where it sits.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tok {
    pub kind: Kind,
    /// Byte span in the original text.
    pub start: u32,
    pub end: u32,
    /// Byte span of the folded word: in [`Msg::norm`] when `folded`, else in the text
    /// (a word already in lower-case ASCII is read in place).
    pub n0: u32,
    pub n1: u32,
    /// The word needed folding (capitals, accents, apostrophes).
    pub folded: bool,
    /// A number's value.
    pub val: f64,
    /// A number's integer digits (separators not counted).
    pub digits: u8,
    /// A number written with thousands separators ("450,000", "400.000").
    pub grouped: bool,
    /// No space before it ("450k": the `k` is glued).
    pub glued: bool,
    /// A word whose first letter is a capital.
    pub cap: bool,
    /// A word written all in capitals, two letters or more ("VA", "FHA").
    pub upper: bool,
    /// Negation scope: a new clause starts at punctuation and at "but"/"pero".
    pub clause: u16,
    /// Past-tense scope: clauses, also split at "and"/"y"/"then".
    pub part: u16,
    /// Hash of the folded word (0 for other tokens).
    pub hash: u64,
    /// The phrases starting here are `hits[h0..h1]`.
    pub h0: u16,
    pub h1: u16,
    /// The kinds of those phrases ([`Cue::bit`]).
    pub mask: u64,
}

/// A phrase of the lexicon found in the message: tokens `at..end`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hit {
    pub at: u16,
    pub end: u16,
    pub cue: Cue,
    /// `cue.bit()`.
    pub bit: u64,
}

impl Hit {
    /// True when this phrase's cue is of the kind of `c` (payload ignored).
    #[inline]
    pub fn is(&self, c: Cue) -> bool {
        self.bit == c.bit()
    }
}

/// A scanned message.
pub(super) struct Msg<'a> {
    pub text: &'a str,
    pub toks: Vec<Tok>,
    pub norm: String,
    pub hits: Vec<Hit>,
    /// Language cue words: (Spanish, English).
    pub lang: (u32, u32),
    /// The kinds of every phrase found.
    pub seen: u64,
    /// Numbers in the message.
    pub nums: u32,
    /// Clauses (the first 64) that end with a question mark, one bit each.
    pub asking: u64,
}

/// A scan's buffers: tokens, folded text, cue hits.
type Buffers = (Vec<Tok>, String, Vec<Hit>);

thread_local! {
    /// The buffers of the last message scanned on this thread, reused by the next one:
    /// extraction runs on every message, and three allocations are a fair share of it.
    static SPARE: std::cell::Cell<Option<Buffers>> =
        const { std::cell::Cell::new(None) };
}

/// FxHash over bytes, eight at a time: fast, and good enough for a table of a few
/// thousand words.
pub(super) fn hash(word: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = word.len() as u64;
    let mut chunks = word.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ v).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        h = (h.rotate_left(5) ^ tail(rest)).wrapping_mul(K);
    }
    // Never 0: 0 marks "no word".
    h | 1
}

/// One to seven bytes as a little-endian number (the first byte lowest), read as two
/// overlapping halves instead of byte by byte.
#[inline]
fn tail(rest: &[u8]) -> u64 {
    let n = rest.len();
    let (lo, hi, half) = match n {
        4.. => (
            u64::from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]])),
            u64::from(u32::from_le_bytes([
                rest[n - 4],
                rest[n - 3],
                rest[n - 2],
                rest[n - 1],
            ])),
            4,
        ),
        2.. => (
            u64::from(u16::from_le_bytes([rest[0], rest[1]])),
            u64::from(u16::from_le_bytes([rest[n - 2], rest[n - 1]])),
            2,
        ),
        _ => (u64::from(rest[0]), u64::from(rest[0]), 1),
    };
    // The halves overlap on equal bytes: OR-ing them is exact.
    lo | (hi << (8 * (n - half)))
}

/// The first slot to probe for a hash: its high bits (a multiplicative hash's low bits
/// depend only on the word's first letters, and would cluster).
#[inline]
fn slot(h: u64) -> usize {
    (h >> 40) as usize
}

/// An open-addressing table from words to values, probed with a precomputed hash so one
/// hash of a token serves every table (the lexicon and a tenant's places).
pub(super) struct WordTable<V> {
    slots: Vec<Option<(u64, Box<str>, V)>>,
    mask: usize,
}

impl<V> WordTable<V> {
    /// A table holding these entries; a key given twice keeps its first value.
    pub fn new(entries: Vec<(String, V)>) -> Self {
        let size = (entries.len() * 2).next_power_of_two().max(16);
        let mut t = Self {
            slots: (0..size).map(|_| None).collect(),
            mask: size - 1,
        };
        for (k, v) in entries {
            let h = hash(k.as_bytes());
            let mut i = slot(h) & t.mask;
            loop {
                match &t.slots[i] {
                    None => {
                        t.slots[i] = Some((h, k.into_boxed_str(), v));
                        break;
                    }
                    Some((hh, kk, _)) if *hh == h && **kk == *k => break,
                    _ => i = (i + 1) & t.mask,
                }
            }
        }
        t
    }

    /// The value of the word of hash `h` and length `len` in bytes (compared by hash and
    /// length, as phrases are: the word itself is never needed).
    #[inline]
    pub fn get(&self, h: u64, len: usize) -> Option<&V> {
        let mut i = slot(h) & self.mask;
        loop {
            match &self.slots[i] {
                None => return None,
                Some((hh, k, v)) if *hh == h && k.len() == len => return Some(v),
                _ => i = (i + 1) & self.mask,
            }
        }
    }
}

/// Folds one non-ASCII letter to its ASCII base, or `None` when it has none.
fn fold(c: char) -> Option<u8> {
    Some(match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' => b'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => b'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => b'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => b'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => b'u',
        'ñ' | 'Ñ' => b'n',
        'ç' | 'Ç' => b'c',
        _ => return None,
    })
}

/// Characters only Spanish uses among the ones leads type: each one is a language cue.
fn spanish_mark(c: char) -> bool {
    matches!(
        c,
        'ñ' | 'Ñ' | '¿' | '¡' | 'á' | 'é' | 'í' | 'ó' | 'ú' | 'Á' | 'É' | 'Í' | 'Ó' | 'Ú'
    )
}

fn tok(kind: Kind, start: usize, end: usize, glued: bool) -> Tok {
    Tok {
        kind,
        start: start as u32,
        end: end as u32,
        n0: 0,
        n1: 0,
        folded: false,
        val: 0.0,
        digits: 0,
        grouped: false,
        glued,
        cap: false,
        upper: false,
        clause: 0,
        part: 0,
        hash: 0,
        h0: 0,
        h1: 0,
        mask: 0,
    }
}

/// Reads a number at `i` (a digit): "450", "450,000", "400.000", "2.5", "1,5". Returns the
/// token and the byte after it.
fn number(b: &[u8], i: usize, glued: bool) -> (Tok, usize) {
    let digits_from = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let mut j = digits_from(i);
    let first = j - i;
    // Thousands groups: a separator followed by exactly three digits, repeated.
    let mut sep = None;
    let mut groups = 0;
    let mut k = j;
    while k < b.len() && (b[k] == b',' || b[k] == b'.') && sep.is_none_or(|s| s == b[k]) {
        let e = digits_from(k + 1);
        if e - (k + 1) != 3 {
            break;
        }
        sep = Some(b[k]);
        groups += 1;
        k = e;
    }
    // A thousands group needs a first part of one to three digits; dots group too, as
    // Spanish writes them ("400.000" is 400,000), while "2.5" (not three digits) is a
    // decimal. Digits are summed as they come: no string is built.
    let grouped = groups > 0 && first <= 3;
    let mut int = 0f64;
    let mut digits = 0u32;
    let mut add = |d: u8| {
        int = int * 10.0 + f64::from(d - b'0');
        digits += 1;
    };
    let mut frac_at = None;
    if grouped {
        b[i..k]
            .iter()
            .filter(|c| c.is_ascii_digit())
            .for_each(|&c| add(c));
        j = k;
        // A decimal part after comma groups: "1,250,000.50".
        if sep == Some(b',') && j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
            frac_at = Some(j + 1);
        }
    } else {
        b[i..j].iter().for_each(|&c| add(c));
        // A decimal: "2.5", or a Spanish decimal comma of one or two digits "1,5".
        if j + 1 < b.len() && (b[j] == b'.' || b[j] == b',') && b[j + 1].is_ascii_digit() {
            let e = digits_from(j + 1);
            if b[j] == b'.' || e - (j + 1) <= 2 {
                frac_at = Some(j + 1);
            }
        }
    }
    let mut val = int;
    if let Some(f) = frac_at {
        let e = digits_from(f);
        let mut scale = 0.1;
        for &c in &b[f..e] {
            val += f64::from(c - b'0') * scale;
            scale /= 10.0;
        }
        j = e;
    }
    let mut t = tok(Kind::Num, i, j, glued);
    t.val = val;
    t.digits = digits.min(255) as u8;
    t.grouped = grouped;
    (t, j)
}

/// Breaks `text` into tokens; words are folded into `norm`.
fn tokenize(text: &str, toks: &mut Vec<Tok>, norm: &mut String, spanish_marks: &mut u32) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut glued = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            if c == b'\n' {
                toks.push(tok(Kind::Sym(b'.'), i, i + 1, false));
            }
            glued = false;
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let (t, j) = number(b, i, glued);
            toks.push(t);
            i = j;
            glued = true;
            continue;
        }
        let ch = if c < 0x80 {
            c as char
        } else {
            text[i..].chars().next().unwrap_or(' ')
        };
        if ch.is_alphabetic() {
            // A word: letters, with apostrophes inside ("don't", "we're"). A word in
            // lower-case ASCII (most of them) is read in place; any other is folded into
            // `norm` one piece at a time.
            let start = i;
            let mut j = i;
            // ASCII capitals have bit 0x20 clear, small letters set: the AND of the
            // letters has it set when none is a capital, the OR clear when all are.
            let (mut all, mut any) = (0xFFu8, 0u8);
            while j < b.len() && b[j].is_ascii_alphabetic() {
                all &= b[j];
                any |= b[j];
                j += 1;
            }
            let (no_caps, all_caps) = (all & 0x20 != 0, any & 0x20 == 0);
            let plain = b.get(j).is_none_or(|&n| n < 0x80 && n != b'\'');
            let mut t = tok(Kind::Word, start, j, glued);
            t.cap = if c < 0x80 {
                c.is_ascii_uppercase()
            } else {
                ch.is_uppercase()
            };
            if plain && no_caps {
                t.n0 = start as u32;
                t.n1 = j as u32;
                t.hash = hash(&b[start..j]);
            } else {
                let n0 = norm.len();
                let mut upper = all_caps;
                norm.push_str(&text[start..j]);
                norm[n0..].make_ascii_lowercase();
                while let Some(&cj) = b.get(j) {
                    if cj.is_ascii_alphabetic() {
                        upper &= cj.is_ascii_uppercase();
                        norm.push(cj.to_ascii_lowercase() as char);
                        j += 1;
                        continue;
                    }
                    if (cj == b'\'' || cj == 0xE2) && j > start {
                        // ' or ’ (E2 80 99) between letters.
                        let len = if cj == b'\'' { 1 } else { 3 };
                        let is_apos = cj == b'\'' || b.get(j..j + 3) == Some(&[0xE2, 0x80, 0x99]);
                        let next = b.get(j + len).copied().unwrap_or(b' ');
                        if is_apos && next.is_ascii_alphabetic() {
                            norm.push('\'');
                            j += len;
                            continue;
                        }
                        break;
                    }
                    if cj < 0x80 {
                        break;
                    }
                    let chj = text[j..].chars().next().unwrap_or(' ');
                    if !chj.is_alphabetic() {
                        break;
                    }
                    if spanish_mark(chj) {
                        *spanish_marks += 1;
                    }
                    upper &= chj.is_uppercase();
                    match fold(chj) {
                        Some(f) => norm.push(f as char),
                        None => norm.extend(chj.to_lowercase()),
                    }
                    j += chj.len_utf8();
                }
                t.end = j as u32;
                t.n0 = n0 as u32;
                t.n1 = norm.len() as u32;
                t.folded = true;
                t.upper = t.cap && upper && norm.len() - n0 >= 2;
                t.hash = hash(&norm.as_bytes()[n0..]);
            }
            toks.push(t);
            i = j;
            glued = true;
            continue;
        }
        // Punctuation and symbols. A hyphen between letters joins nothing and splits the
        // words ("pre-approved" reads "pre approved"); before a digit it is a range or a
        // phone number's dash and stays.
        let len = ch.len_utf8();
        if spanish_mark(ch) {
            *spanish_marks += 1;
        }
        let sym = match ch {
            '-' | '–' | '—' => {
                if b.get(i + len).is_some_and(|d| d.is_ascii_digit()) {
                    Some(b'-')
                } else {
                    None
                }
            }
            // Opening marks start a clause; only the closing "?" makes it a question.
            '¿' | '¡' => Some(b'('),
            '’' | '\'' | '"' | '“' | '”' | '*' | '_' | '~' => None,
            '…' => Some(b'.'),
            c if c.is_ascii_punctuation() => Some(c as u8),
            _ => None,
        };
        if let Some(s) = sym {
            toks.push(tok(Kind::Sym(s), i, i + len, glued));
        }
        glued = sym.is_some();
        i += len;
    }
}

/// Punctuation that ends a clause.
fn ends_clause(s: u8) -> bool {
    matches!(
        s,
        b'.' | b',' | b'!' | b'?' | b';' | b':' | b'(' | b')' | b'&'
    )
}

impl<'a> Msg<'a> {
    /// Tokenizes `text`, looks every word up in `lex` and records the phrases found.
    pub fn scan(text: &'a str, lex: &Lexicon) -> Self {
        let (mut toks, mut norm, mut hits) = SPARE
            .with(|s| s.take())
            .unwrap_or_else(|| (Vec::new(), String::new(), Vec::new()));
        toks.clear();
        norm.clear();
        hits.clear();
        let mut marks = 0;
        tokenize(text, &mut toks, &mut norm, &mut marks);
        let (mut es, mut en) = (marks.min(3), 0);
        let (mut clause, mut part) = (0u16, 0u16);
        let mut seen = 0;
        let mut asking = 0u64;
        let mut split_next = false;
        let mut nums = 0;
        for i in 0..toks.len() {
            if split_next {
                clause += 1;
                part += 1;
                split_next = false;
            }
            let t = &toks[i];
            match t.kind {
                Kind::Sym(s) if ends_clause(s) => {
                    if s == b'?' && clause < 64 {
                        asking |= 1 << clause;
                    }
                    let t = &mut toks[i];
                    t.clause = clause;
                    t.part = part;
                    t.h0 = hits.len() as u16;
                    t.h1 = hits.len() as u16;
                    split_next = true;
                    continue;
                }
                _ => {}
            }
            let h0 = hits.len();
            let mut mask = 0;
            nums += u32::from(t.kind == Kind::Num);
            if t.kind == Kind::Word {
                if let Some(entry) = lex.word(t.hash, (t.n1 - t.n0) as usize) {
                    if entry.lang > 0 {
                        es += 1;
                    } else if entry.lang < 0 {
                        en += 1;
                    }
                    // The longer phrases first, each tried only when the next word is its
                    // second one; then the one-word phrases, which always match.
                    let next = toks.get(i + 1).map_or(0, |n| n.hash);
                    let (longer, singles) = entry.phrases.split_at(entry.singles);
                    if entry.seconds & second_bit(next) != 0 {
                        for p in longer.iter().filter(|p| p.second == next) {
                            if let Some(end) = phrase_end(&toks, i, p) {
                                hits.push(Hit {
                                    at: i as u16,
                                    end: end as u16,
                                    cue: p.cue,
                                    bit: p.bit,
                                });
                                mask |= p.bit;
                            }
                        }
                    }
                    hits.extend(singles.iter().map(|p| Hit {
                        at: i as u16,
                        end: (i + 1) as u16,
                        cue: p.cue,
                        bit: p.bit,
                    }));
                    mask |= entry.single_mask;
                }
            }
            // "but" and "pero" open a new clause; "and" and "then" a new part.
            if mask & Cue::Break.bit() != 0 {
                clause += 1;
                part += 1;
            } else if mask & Cue::And.bit() != 0 {
                part += 1;
            }
            seen |= mask;
            let t = &mut toks[i];
            t.clause = clause;
            t.part = part;
            t.h0 = h0 as u16;
            t.h1 = hits.len() as u16;
            t.mask = mask;
        }
        Msg {
            text,
            toks,
            norm,
            hits,
            lang: (es, en),
            seen,
            nums,
            asking,
        }
    }

    /// Gives the message's buffers back to this thread for the next scan.
    pub fn recycle(self) {
        SPARE.with(|s| s.set(Some((self.toks, self.norm, self.hits))));
    }

    /// The folded word at `i` ("" for other tokens).
    #[inline]
    pub fn word(&self, i: usize) -> &str {
        match self.toks.get(i) {
            Some(t) if t.kind == Kind::Word && t.folded => &self.norm[t.n0 as usize..t.n1 as usize],
            Some(t) if t.kind == Kind::Word => &self.text[t.n0 as usize..t.n1 as usize],
            _ => "",
        }
    }

    /// The folded word at `i` as bytes (empty for other tokens): compared without the
    /// character-boundary checks of a `str` slice.
    #[inline]
    fn word_bytes(&self, i: usize) -> &[u8] {
        match self.toks.get(i) {
            Some(t) if t.kind == Kind::Word => {
                let src = if t.folded { &self.norm } else { self.text };
                &src.as_bytes()[t.n0 as usize..t.n1 as usize]
            }
            _ => &[],
        }
    }

    /// True when token `i` is the word `w`.
    #[inline]
    pub fn is(&self, i: usize, w: &str) -> bool {
        self.word_bytes(i) == w.as_bytes()
    }

    /// True when token `i` is one of the words `ws`.
    #[inline]
    pub fn is_any(&self, i: usize, ws: &[&str]) -> bool {
        let word = self.word_bytes(i);
        ws.iter().any(|w| w.as_bytes() == word)
    }

    /// True when token `i` is the symbol `s`.
    #[inline]
    pub fn sym(&self, i: usize, s: u8) -> bool {
        matches!(self.toks.get(i), Some(t) if t.kind == Kind::Sym(s))
    }

    /// The number at `i`.
    #[inline]
    pub fn num(&self, i: usize) -> Option<f64> {
        match self.toks.get(i) {
            Some(t) if t.kind == Kind::Num => Some(t.val),
            _ => None,
        }
    }

    /// The phrases found starting at token `i`.
    #[inline]
    pub fn hits_at(&self, i: usize) -> &[Hit] {
        match self.toks.get(i) {
            Some(t) => &self.hits[t.h0 as usize..t.h1 as usize],
            None => &[],
        }
    }

    /// True when a phrase of one of the kinds `bits` is in the message.
    #[inline]
    pub fn has(&self, bits: u64) -> bool {
        self.seen & bits != 0
    }

    /// The first phrase at token `i` of one of the kinds `bits`.
    #[inline]
    pub fn at(&self, i: usize, bits: u64) -> Option<Hit> {
        match self.toks.get(i) {
            Some(t) if t.mask & bits != 0 => self.hits[t.h0 as usize..t.h1 as usize]
                .iter()
                .copied()
                .find(|h| h.bit & bits != 0),
            _ => None,
        }
    }

    /// The end of the longest phrase at token `i` of one of the kinds `bits`.
    #[inline]
    pub fn end(&self, i: usize, bits: u64) -> Option<usize> {
        match self.toks.get(i) {
            Some(t) if t.mask & bits != 0 => self.hits[t.h0 as usize..t.h1 as usize]
                .iter()
                .filter(|h| h.bit & bits != 0)
                .map(|h| h.end as usize)
                .max(),
            _ => None,
        }
    }

    /// The original text of tokens `a..b`, lower-cased.
    pub fn phrase(&self, a: usize, b: usize) -> String {
        let (s, e) = (self.toks[a].start as usize, self.toks[b - 1].end as usize);
        self.text[s..e].to_lowercase()
    }

    /// The original text of tokens `a..b` as written.
    pub fn original(&self, a: usize, b: usize) -> &'a str {
        let (s, e) = (self.toks[a].start as usize, self.toks[b - 1].end as usize);
        &self.text[s..e]
    }

    /// True when a negation ("not", "don't", "no", "without", "sin") stands before token
    /// `i` in its clause, at most `reach` tokens back, or a post-negation ("not needed",
    /// "no es necesario") follows it closely.
    pub fn negated(&self, i: usize, reach: usize) -> bool {
        let Some(t) = self.toks.get(i) else {
            return false;
        };
        let neg = Cue::Negator.bit();
        for j in (i.saturating_sub(reach)..i).rev() {
            let u = &self.toks[j];
            if u.clause != t.clause {
                break;
            }
            if u.mask & neg != 0
                && self
                    .hits_at(j)
                    .iter()
                    .any(|h| h.bit == neg && (h.end as usize) <= i)
            {
                return true;
            }
        }
        let after = Cue::NegAfter.bit();
        (i + 1..(i + 4).min(self.toks.len()))
            .take_while(|&j| self.toks[j].clause == t.clause)
            .any(|j| self.toks[j].mask & after != 0)
    }

    /// True when a phrase of one of the kinds `bits` starts within `reach` tokens before
    /// `i` in the same clause.
    pub fn before_in_clause(&self, i: usize, reach: usize, bits: u64) -> bool {
        let Some(t) = self.toks.get(i) else {
            return false;
        };
        self.toks[i.saturating_sub(reach)..i]
            .iter()
            .rev()
            .take_while(|u| u.clause == t.clause)
            .any(|u| u.mask & bits != 0)
    }

    /// True when a phrase of one of the kinds `bits` starts anywhere in the part
    /// (past-tense scope) of token `i`.
    pub fn in_part(&self, i: usize, bits: u64) -> bool {
        let Some(t) = self.toks.get(i) else {
            return false;
        };
        if self.seen & bits == 0 {
            return false;
        }
        let back = self.toks[..i].iter().rev().take_while(|u| u.part == t.part);
        let fwd = self.toks[i..].iter().take_while(|u| u.part == t.part);
        back.chain(fwd).any(|u| u.mask & bits != 0)
    }

    /// True when the clause of token `i` ends with a question mark (the lead is asking,
    /// not telling).
    #[inline]
    pub fn asks(&self, i: usize) -> bool {
        self.toks
            .get(i)
            .is_some_and(|t| t.clause < 64 && self.asking & (1 << t.clause) != 0)
    }

    /// Word tokens in the message.
    pub fn words(&self) -> usize {
        self.toks.iter().filter(|t| t.kind == Kind::Word).count()
    }
}

/// The token after phrase `p` when it matches at `i`. Words are compared by their 64-bit
/// hash and length: two different words agreeing on both is far less likely than a typo.
#[inline]
fn phrase_end(toks: &[Tok], i: usize, p: &Phrase) -> Option<usize> {
    let rest = toks.get(i + 1..i + 1 + p.rest.len())?;
    for (t, (h, len)) in rest.iter().zip(p.rest.iter()) {
        if t.hash != *h || (t.n1 - t.n0) as usize != *len {
            return None;
        }
    }
    Some(i + 1 + p.rest.len())
}
