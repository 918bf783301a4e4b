//! Inputs. The `http` target's request decoder (libFuzzer and the smoke loop both use
//! it); for the smoke loop, a seeded RNG, generators that build text, JSON and Rhai from
//! fragments that matter to each target (all reading an [`Unstructured`], so random bytes
//! become structured input), and byte mutations of the seed corpus. Also a tally of
//! outcomes that the smoke loop prints.

use arbitrary::{Result, Unstructured};
use std::collections::BTreeMap;
use std::sync::Mutex;

static TALLY: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Counts one outcome (`http/404`, `script/ok`, ...).
pub fn note(what: &str) {
    if let Ok(mut t) = TALLY.lock() {
        *t.entry(what.to_string()).or_default() += 1;
    }
}

/// The outcomes counted since the last call, and a fresh count.
pub fn take_tally() -> BTreeMap<String, u64> {
    TALLY
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default()
}

/// SplitMix64: small, seedable, good enough to pick inputs.
pub struct Rng(u64);

impl Rng {
    /// An RNG from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Text fragments that exercise the extractor, the redactor and the segment counter.
const TEXT: &[&str] = &[
    "We want to buy in Plano",
    "around 450k",
    "$300,000 to $350,000",
    "450 thousand",
    "1.2M",
    "budget is $9999999999999999999999",
    "pre-approved",
    "paying cash",
    "3 bed",
    "2.5 bath",
    "4 bedrooms",
    "asap",
    "next month",
    "in 6 months",
    "not sure",
    "no idea",
    "Frisco",
    "McKinney",
    "sell my house",
    "relocating for work",
    "divorce",
    "pool",
    "garage",
    "STOP",
    "stop texting me",
    "please stop",
    "para",
    "no más mensajes",
    "basta",
    "HELP",
    "START",
    "jo@example.com",
    "a.b+c@sub.example.co.uk",
    "x@y.zz",
    "(214) 555-0199",
    "214-555-0199",
    "+1 214 555 0199",
    "2145550199",
    "1-800-555-0199",
    "214.911.0199",
    "123-45-6789",
    "078 05 1120",
    "ssn 123456789",
    "SSN: 219099999",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "5555555555554444",
    "account 12345678",
    "routing 021000021",
    "iban 123456789012345",
    "0000000000000",
    "€",
    "^{}\\[~]|",
    "\u{c}",
    "👋",
    "é",
    "e\u{301}",
    "ſ",
    "\u{212a}",
    "İ",
    "ß",
    "\u{202e}",
    "\u{200b}",
    "\u{a0}",
    "\u{2019}",
    "\u{201c}",
    "\u{2026}",
    "\u{2014}",
    "\u{0}",
    "\r\n",
    "\t",
    "@",
    "@@",
    ".",
    "-",
    "--",
    "1",
    "11",
    "911",
    "555",
    "0199",
    "9",
    "  ",
    "Ω",
    "中文",
    "\u{10ffff}",
    "\u{fffd}",
];

const SEPARATORS: &[&str] = &[" ", "", "\n", ", ", ".", "-", "@", "1"];

/// Text made of [`TEXT`] fragments, random digit runs and random chars.
pub fn text(u: &mut Unstructured) -> Result<String> {
    let mut out = String::new();
    for _ in 0..u.int_in_range(0..=24)? {
        match u.int_in_range(0..=9)? {
            0 => {
                for _ in 0..u.int_in_range(1..=40)? {
                    out.push(char::from(b'0' + u.int_in_range(0..=9)?));
                }
            }
            1 => out.push(u.arbitrary::<char>()?),
            2 => out.push_str(&"a".repeat(u.int_in_range(1..=200)?)),
            _ => out.push_str(u.choose(TEXT)?),
        }
        out.push_str(u.choose(SEPARATORS)?);
    }
    Ok(out)
}

/// Strings that JSON values are drawn from: hostile ids, times, zones, enum names.
const STRINGS: &[&str] = &[
    "",
    " ",
    "Plano",
    "$450k",
    "450000",
    "not sure",
    "STOP",
    "hot",
    "Hit List",
    "AI-Off",
    "America/Chicago",
    "Mars/Olympus",
    "2026-01-01T00:00:00Z",
    "2999-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "not a time",
    "1700000000000",
    "buy",
    "sell",
    "lead",
    "agent",
    "enterprise",
    "platinum",
    "inbound",
    "outbound",
    "ContactTagUpdate",
    "InboundMessage",
    "fz-a",
    "points",
    "known",
    "../etc",
    "a/b",
    "é",
    "👋",
    "\u{0}",
    "handed_off",
    "reached_hot",
    "budget",
    "location",
];

const KEYS: &[&str] = &[
    "text",
    "tags",
    "facts",
    "name",
    "timezone",
    "at",
    "body",
    "message",
    "messages",
    "goal",
    "contact_id",
    "extracted_preferences",
    "from",
    "role",
    "content",
    "timestamp",
    "leads",
    "type",
    "locationId",
    "location_id",
    "contactId",
    "id",
    "direction",
    "dateAdded",
    "webhookId",
    "messageId",
    "contact",
    "firstName",
    "metric",
    "value",
    "tenant",
    "tier",
    "ghl_token",
    "budget",
    "location",
    "timeline",
    "financing",
];

/// A JSON value: scalars at the edges of their types, pool strings, nested containers.
pub fn value(u: &mut Unstructured, depth: u32) -> Result<serde_json::Value> {
    use serde_json::{json, Value};
    let top = if depth == 0 { 8 } else { 10 };
    Ok(match u.int_in_range(0..=top)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(*u.choose(&[0i64, -1, 1, 7, i64::MAX, i64::MIN, 450_000])?),
        3 => json!(u.arbitrary::<i64>()?),
        4 => json!(*u.choose(&[u64::MAX, 1u64 << 53])?),
        5 => json!(*u.choose(&[1.5f64, -0.0, 1e308, -1e-308, 0.1])?),
        6 => Value::String(u.choose(STRINGS)?.to_string()),
        7 => Value::String(text(u)?),
        8 => Value::String("x".repeat(*u.choose(&[1000usize, 10_241, 40_000])?)),
        9 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array((0..n).map(|_| value(u, depth - 1)).collect::<Result<_>>()?)
        }
        _ => object(u, depth - 1)?,
    })
}

/// An object whose keys come mostly from [`KEYS`].
pub fn object(u: &mut Unstructured, depth: u32) -> Result<serde_json::Value> {
    let mut m = serde_json::Map::new();
    for _ in 0..u.int_in_range(0..=8)? {
        let key = if u.ratio(7, 8)? {
            u.choose(KEYS)?.to_string()
        } else {
            u.arbitrary::<String>()?
        };
        m.insert(key, value(u, depth)?);
    }
    Ok(serde_json::Value::Object(m))
}

/// A JSON document: mostly an object, sometimes any value, sometimes cut short.
pub fn json_text(u: &mut Unstructured) -> Result<String> {
    let v = if u.ratio(4, 5)? {
        object(u, 3)?
    } else {
        value(u, 3)?
    };
    let mut s = v.to_string();
    if u.ratio(1, 10)? {
        let cut = u.int_in_range(0..=s.len())?;
        while !s.is_char_boundary(cut.min(s.len())) {
            s.pop();
        }
        s.truncate(cut.min(s.len()));
    }
    Ok(s)
}

/// Statements a hostile `score` hook is made of: endless loops, growth to each size
/// limit, recursion, arithmetic at the edges, helpers called with the wrong types.
/// (`"a".pad(2, "")`, which spins forever inside Rhai, is left out: it is a known hang,
/// reported with its test in `engine/tests/properties.rs`, and would stop every run.)
const RHAI_STMTS: &[&str] = &[
    "let n = 0; loop { n += 1; }",
    "let s = \"ab\"; loop { s += s; }",
    "let a = []; loop { a.push(a.len()); }",
    "let a = [1]; loop { a = [a, a]; }",
    "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
    "let x = deep(0);",
    "let s = \"x\"; s.pad(70000, \"y\");",
    "let x = 9223372036854775807 + 1;",
    "let x = 1 / 0;",
    "let x = (-9223372036854775807 - 1) / -1;",
    "let x = (-9223372036854775807 - 1) % -1;",
    "let x = -(-9223372036854775807 - 1);",
    "let x = (-9223372036854775807 - 1).abs();",
    "let x = 2 ** 64;",
    "let x = 1 << 64; let y = 1 >> -1;",
    "let x = \"abc\".sub_string(-5, 100);",
    "let x = [1, 2, 3]; let y = x[-100];",
    "let x = \"é👋\"; let y = x[1]; let z = x.chars();",
    "let x = matches(\"aaaa\", \"(\");",
    "let i = 0; loop { matches(\"x\", `\\w{40}z${i}`); i += 1; }",
    "let a = []; a.pad(10000, \"zz\"); loop { a.reverse(); a.sort(); }",
    "let x = money(#{a: [1, 2]}); let y = money(\"$9999999999999999999999\");",
    "let x = prefixed(1, [1, [2], #{}]);",
    "let x = tag_changes(lead, cfg, ());",
    "let x = answered_points(lead, [[[]], 5, ()]);",
    "let x = first_missing((), ());",
    "let x = has([], 1);",
    "let x = sms_segments(\"👋\".pad(20000, \"👋\"));",
    "let x = cfg.at(-1, (), #{});",
    "let x = cfg.at(\"percent\", 9223372036854775807);",
    "let x = cfg.len_of(\"nope\");",
    "let x = cfg.questions;",
    "let x = variant(lead, ());",
    "print(lead); debug(cfg);",
    "let f = Fn(\"score\"); f.call(lead, cfg);",
    "lead.facts.budget = lead; lead.tags += lead.tags;",
    "let x = eval(\"1\");",
    "throw \"boom\";",
    "let x = lead.facts.location.len();",
    "let x = parse_int(\"99999999999999999999\");",
    "let x = 0.0 / 0.0; let y = x.to_int();",
    "let x = 1e308 * 10.0; let y = x.to_int();",
    "let s = \"\"; s.pad(9223372036854775807, \"a\");",
    "let a = []; a.pad(-1, 0); a.truncate(-1); let b = a.extract(-5, 9223372036854775807);",
    "let a = [3, 1, 2]; a.sort(\"nope\");",
    "let s = \"abc\"; let p = s.split(\"\");",
    "let s = \"abc\"; s.crop(-9223372036854775807);",
    "let s = \"abc\".index_of(\"c\", -9223372036854775807);",
    "let a = [1, 2, 3]; a.splice(-9223372036854775807, 9223372036854775807, [1]);",
    "let x = 5.get_bits(0, 200); let y = 5.get_bit(64);",
    "for i in range(0, 10, 0) { }",
    "for i in range(0, 9223372036854775807) { }",
    "let a = [1, 2, 3]; a.chop(-1);",
    "let x = lead.history.messages * 9223372036854775807;",
    "let x = `${lead}${cfg}${lead}`;",
    "let t = lead.tags; t.pad(10000, t);",
    "let m = lead.facts; m.mixin(m); m.fill_with(cfg);",
];

const RHAI_RESULTS: &[&str] = &[
    "#{score: 1, class: \"hot\"}",
    "#{score: \"x\", class: 5}",
    "()",
    "42",
    "#{score: 9223372036854775807, class: \"warm\", percent: -5}",
    "#{score: -9223372036854775807 - 1, class: \"cold\", percent: 9223372036854775807}",
    "#{score: 1, class: \"hot\", tags: [(), 1, [2]]}",
    "#{score: 1.5, class: \"hot\", percent: 1e308}",
    "#{score: 1, class: \"hot\", answered: \"x\"}",
    "#{score: 1, class: \"hot\", tags: [\"a\".pad(60000, \"b\")]}",
    "#{score: 1, class: \"HOT\", remove_tags: [1, 2], rule: #{}}",
    "#{score: 0, class: \"\"}",
    "lead",
    "cfg",
    "#{score: 1, class: \"warm\", answered: [\"budget\", (), \"budget\"]}",
];

const RHAI_QUESTIONS: &[&str] = &[
    "#{id: (), text: 5}",
    "#{id: \"handoff\", text: \"a\".pad(60000, \"b\")}",
    "#{}",
    "()",
    "#{id: \"budget\", text: \"👋\", reason: ()}",
    "result",
    "next_question(lead, result, cfg)",
];

/// A hostile tenant script: helper functions, a `score` hook of [`RHAI_STMTS`] returning
/// one of [`RHAI_RESULTS`], sometimes a `next_question` hook, deep nesting or junk.
pub fn rhai(u: &mut Unstructured) -> Result<String> {
    let mut s = String::from("fn deep(n) { deep(n + 1) }\n");
    let mut body = String::new();
    for _ in 0..u.int_in_range(0..=3)? {
        body.push_str(u.choose(RHAI_STMTS)?);
        body.push('\n');
    }
    match u.int_in_range(0..=7)? {
        0 => {
            let k = u.int_in_range(1..=300)?;
            body.push_str(&format!("let d = {}1{};\n", "(".repeat(k), ")".repeat(k)));
        }
        1 => {
            let k = u.int_in_range(1..=300)?;
            body.push_str(&format!("let d = {}1{};\n", "[".repeat(k), "]".repeat(k)));
        }
        2 => {
            let k = u.int_in_range(1..=100)?;
            body.push_str(&format!(
                "{}let d = 1;{}\n",
                "if true { ".repeat(k),
                " }".repeat(k)
            ));
        }
        3 => body.push_str(&text(u)?),
        _ => {}
    }
    s.push_str(&format!(
        "fn score(lead, cfg) {{\n{body}{}\n}}\n",
        u.choose(RHAI_RESULTS)?
    ));
    if u.ratio(1, 3)? {
        let stmt = u.choose(RHAI_STMTS)?;
        let q = u.choose(RHAI_QUESTIONS)?;
        s.push_str(&format!(
            "fn next_question(lead, result, cfg) {{\n{stmt}\n{q}\n}}\n"
        ));
    }
    Ok(s)
}

/// Routes (the method they answer, the path with holes: `{id}` a contact, `{t}` a tenant,
/// `{k}` an experiment key, `{a}` any segment).
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/score"),
    ("POST", "/v1/score/batch"),
    ("POST", "/v1/contacts/{id}/messages"),
    ("GET", "/v1/contacts/{id}"),
    ("DELETE", "/v1/contacts/{id}"),
    ("GET", "/v1/contacts/{id}/export"),
    ("GET", "/v1/experiments"),
    ("GET", "/v1/experiments/{k}"),
    ("POST", "/v1/experiments/{k}/outcomes"),
    ("POST", "/v1/experiments/{k}/stop"),
    ("GET", "/v1/analytics"),
    ("POST", "/webhooks/ghl"),
    ("POST", "/admin/tenants"),
    ("GET", "/admin/tenants"),
    ("DELETE", "/admin/tenants/{t}"),
    ("POST", "/admin/tenants/{t}/rotate-key"),
    ("GET", "/admin/outbox/failed"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/{a}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/{a}"),
];

/// Path segments, already percent-encoded where needed.
const SEGMENTS: &[&str] = &[
    "known",
    "c1",
    "",
    "..",
    "..%2Fetc",
    "%2e%2e%2fetc",
    "%FF",
    "%C3%A9",
    "a%00b",
    "%20",
    "-",
    "_",
    "app.js",
    "budget_wording",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

const QUERIES: &[&str] = &[
    "?explain=false",
    "?explain=true",
    "?explain=maybe",
    "?explain=",
    "?explain=%FF",
    "?from=2026-01-01&to=2026-01-31",
    "?from=2026-13-45",
    "?from=2027-01-01&to=2026-01-01",
    "?from=1900-01-01",
    "?from=%FF",
    "?to=-9999-01-01",
    "?tenant=fz-a",
    "?tenant=..%2Fx",
    "?tenant=",
    "?tenant=%FF",
    "?a=1&a=2",
    "?explain=false&explain=true",
];

const METHODS: &[&str] = &["GET", "POST", "DELETE", "PUT", "PATCH"];

/// Every byte but unreserved ones as `%XX`: any string becomes a valid URI part.
pub fn percent_encode(s: &[u8]) -> String {
    s.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn segment(u: &mut Unstructured) -> Result<String> {
    Ok(if u.ratio(3, 4)? {
        u.choose(SEGMENTS)?.to_string()
    } else {
        percent_encode(u.arbitrary::<&[u8]>()?)
    })
}

/// The request the `http` target sends, decoded from fuzz input: a route (sometimes
/// with another method), hostile path segments and query strings, one of the tenants'
/// keys, the admin key or a bad one, a content type, maybe an `Idempotency-Key`, and a
/// body (raw bytes, generated JSON, or over the size limit). `None` when the input runs
/// out or makes no valid request line.
pub fn request(data: &[u8], keys: &[String; 2]) -> Option<axum::http::Request<axum::body::Body>> {
    let mut u = Unstructured::new(data);
    let u = &mut u;
    let (hint, template) = *u.choose(ROUTES).ok()?;
    let method = if u.ratio(7, 8).ok()? {
        hint
    } else {
        u.choose(METHODS).ok()?
    };
    let mut path = template.to_string();
    for hole in ["{id}", "{k}", "{a}", "{t}"] {
        if path.contains(hole) {
            let mut seg = segment(u).ok()?;
            // The admin routes must not rotate or remove the tenants the target uses.
            if hole == "{t}" && (seg == "fz-a" || seg == "points") {
                seg = "fz-other".into();
            }
            path = path.replace(hole, &seg);
        }
    }
    match u.int_in_range(0..=5).ok()? {
        0 | 1 => path.push_str(u.choose(QUERIES).ok()?),
        2 => {
            path.push('?');
            path.push_str(&percent_encode(u.arbitrary::<&[u8]>().ok()?).replace("%3D", "="));
        }
        _ => {}
    }
    let mut req = axum::http::Request::builder().method(method).uri(path);
    let auth = match u.int_in_range(0..=7).ok()? {
        0..=2 => Some(format!("Bearer {}", keys[0])),
        3 => Some(format!("Bearer {}", keys[1])),
        4 => Some(format!("Bearer {}", crate::HTTP_ADMIN)),
        5 => None,
        6 => Some("Bearer qfy_fz-a.wrong".to_string()),
        _ => Some(u.arbitrary::<String>().ok()?),
    };
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let content_type = *u
        .choose(&[
            Some("application/json"),
            Some("application/json"),
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ])
        .ok()?;
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if u.ratio(1, 6).ok()? {
        let key = match u.int_in_range(0..=3).ok()? {
            0 => "k1".to_string(),
            1 => String::new(),
            2 => "k".repeat(201),
            _ => u.arbitrary::<String>().ok()?,
        };
        req = req.header("idempotency-key", key);
    }
    let body: Vec<u8> = match u.int_in_range(0..=5).ok()? {
        0 => {
            let n = u.len();
            u.bytes(n).ok()?.to_vec()
        }
        1 => {
            let mut b = b"{\"text\": \"".to_vec();
            b.resize(70 * 1024, b'a');
            b.extend_from_slice(b"\"}");
            b
        }
        2 if template == "/v1/score/batch" => {
            let n = u.int_in_range(0..=3).ok()?;
            let leads = (0..n)
                .map(|_| object(u, 2))
                .collect::<Result<Vec<_>>>()
                .ok()?;
            serde_json::json!({ "leads": leads })
                .to_string()
                .into_bytes()
        }
        _ => json_text(u).ok()?.into_bytes(),
    };
    req.body(axum::body::Body::from(body)).ok()
}

/// Fragments spliced in by [`mutate`], by target.
fn tokens(target: &str) -> &'static [&'static str] {
    match target {
        "script" => RHAI_STMTS,
        "webhook" | "score_lead" | "http" => KEYS,
        _ => TEXT,
    }
}

/// A few random edits of `input`: byte flips, fragment insertions, deletions, copies.
pub fn mutate(mut input: Vec<u8>, target: &str, rng: &mut Rng) -> Vec<u8> {
    for _ in 0..=rng.below(8) {
        let len = input.len();
        match rng.below(5) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let t = tokens(target);
                let at = rng.below(len + 1);
                let frag = t[rng.below(t.len())].as_bytes();
                input.splice(at..at, frag.iter().copied());
            }
            2 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(16) + 1).min(len);
                input.drain(a..b);
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(64) + 1).min(len);
                let copy = input[a..b].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, copy);
            }
            _ => {
                let at = rng.below(len + 1);
                input.insert(at, rng.next_u64() as u8);
            }
        }
    }
    input
}

/// One smoke input for `target`: a mutated seed, raw random bytes, or (mostly) input
/// built by the target's generator from random bytes.
pub fn input(target: &str, rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let roll = rng.below(10);
    if roll < 3 && !seeds.is_empty() {
        let seed = seeds[rng.below(seeds.len())].clone();
        return mutate(seed, target, rng);
    }
    let n = 16 + rng.below(4096);
    let raw = rng.bytes(n);
    if roll == 3 || target == "http" {
        return raw;
    }
    let mut u = Unstructured::new(&raw);
    let made = match target {
        "script" => rhai(&mut u),
        "webhook" | "score_lead" => json_text(&mut u),
        _ => text(&mut u),
    };
    made.map(String::into_bytes).unwrap_or(raw)
}
