//! The store's tables over either backend: redb (one file, the default) or PostgreSQL
//! (several replicas sharing one database). The table modules open tables and call
//! `get`, `insert`, `remove`, `range`, `retain` on them exactly as they would on redb's
//! typed tables; this module forwards each call to redb, or turns it into SQL over one
//! PostgreSQL transaction.
//!
//! In PostgreSQL every table is `qualify.<name> (k bytea primary key, v bytea)`: `v` holds
//! the value exactly as redb stores it (a sealed value, a count, nothing), and `k` the key
//! tuple in an order-preserving encoding ([`OrdKey`]), so a byte-wise range over `k` is the
//! same range redb's typed keys give, in the same order.

use super::pg::PgTx;
use crate::error::{Error, Result};
use redb::{
    Key, ReadableTable as _, ReadableTableMetadata as _, TableDefinition, TableHandle as _, Value,
};
use std::borrow::Borrow;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

pub(super) fn db(e: impl Into<redb::Error>) -> Error {
    match e.into() {
        // redb refuses every operation after an I/O error: only a restart recovers.
        e @ redb::Error::PreviousIo => Error::StoreBroken(e.to_string()),
        redb::Error::Io(io) => Error::StoreBroken(io.to_string()),
        e => Error::Store(e.to_string()),
    }
}

/// A key type with an order-preserving byte encoding: `a < b` as redb compares the typed
/// keys exactly when `ord(a) < ord(b)` byte-wise. Strings end with `00 00`, a zero byte
/// inside one is `00 01`; integers are big-endian.
pub(super) trait OrdKey: Key + 'static {
    fn ord(value: &Self::SelfType<'_>) -> Vec<u8>;
    /// redb's own bytes for the key an `ord` encoding holds (to hand out redb-typed views).
    fn redb_bytes(ord: &[u8]) -> Result<Vec<u8>>;
}

mod part {
    use crate::error::{Error, Result};

    fn short() -> Error {
        Error::Store("a stored key is shorter than its type".into())
    }

    pub fn put_str(v: &str, out: &mut Vec<u8>) {
        for &b in v.as_bytes() {
            out.push(b);
            if b == 0 {
                out.push(1);
            }
        }
        out.extend_from_slice(&[0, 0]);
    }

    pub fn take_str(buf: &mut &[u8]) -> Result<String> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match (buf.get(i), buf.get(i + 1)) {
                (Some(0), Some(0)) => break,
                (Some(0), Some(1)) => {
                    out.push(0);
                    i += 2;
                }
                (Some(&b), _) if b != 0 => {
                    out.push(b);
                    i += 1;
                }
                _ => return Err(short()),
            }
        }
        *buf = &buf[i + 2..];
        String::from_utf8(out).map_err(|_| Error::Store("a stored key is not UTF-8".into()))
    }

    pub fn put_u64(v: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&v.to_be_bytes());
    }

    pub fn take_u64(buf: &mut &[u8]) -> Result<u64> {
        let (head, rest) = buf.split_at_checked(8).ok_or_else(short)?;
        *buf = rest;
        Ok(u64::from_be_bytes(head.try_into().map_err(|_| short())?))
    }

    pub fn put_u32(v: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&v.to_be_bytes());
    }

    pub fn take_u32(buf: &mut &[u8]) -> Result<u32> {
        let (head, rest) = buf.split_at_checked(4).ok_or_else(short)?;
        *buf = rest;
        Ok(u32::from_be_bytes(head.try_into().map_err(|_| short())?))
    }
}

impl OrdKey for &'static str {
    fn ord(value: &&str) -> Vec<u8> {
        let mut out = Vec::with_capacity(value.len() + 2);
        part::put_str(value, &mut out);
        out
    }

    fn redb_bytes(ord: &[u8]) -> Result<Vec<u8>> {
        let mut rest = ord;
        Ok(part::take_str(&mut rest)?.into_bytes())
    }
}

/// Implements [`OrdKey`] for a key tuple: each element named by its index and kind.
macro_rules! ord_key {
    ($ty:ty; $($i:tt : $kind:ident),+) => {
        impl OrdKey for $ty {
            fn ord(value: &Self::SelfType<'_>) -> Vec<u8> {
                let mut out = Vec::with_capacity(48);
                $( ord_key!(@put $kind, value.$i, out); )+
                out
            }

            fn redb_bytes(ord: &[u8]) -> Result<Vec<u8>> {
                let mut rest = ord;
                let owned = ( $( ord_key!(@take $kind, rest), )+ );
                let view: Self::SelfType<'_> = ( $( ord_key!(@view $kind, owned.$i), )+ );
                let bytes = <$ty as Value>::as_bytes(&view);
                let bytes: &[u8] = bytes.as_ref();
                Ok(bytes.to_vec())
            }
        }
    };
    (@put s, $v:expr, $out:ident) => { part::put_str($v, &mut $out) };
    (@put n64, $v:expr, $out:ident) => { part::put_u64($v, &mut $out) };
    (@put n32, $v:expr, $out:ident) => { part::put_u32($v, &mut $out) };
    (@take s, $rest:ident) => { part::take_str(&mut $rest)? };
    (@take n64, $rest:ident) => { part::take_u64(&mut $rest)? };
    (@take n32, $rest:ident) => { part::take_u32(&mut $rest)? };
    (@view s, $o:expr) => { $o.as_str() };
    (@view n64, $o:expr) => { $o };
    (@view n32, $o:expr) => { $o };
}

ord_key!((&'static str, u32); 0: s, 1: n32);
ord_key!((&'static str, u64); 0: s, 1: n64);
ord_key!((&'static str, &'static str); 0: s, 1: s);
ord_key!((&'static str, u64, u64); 0: s, 1: n64, 2: n64);
ord_key!((u64, &'static str, &'static str); 0: n64, 1: s, 2: s);
ord_key!((&'static str, &'static str, &'static str); 0: s, 1: s, 2: s);
ord_key!((u64, &'static str, &'static str, &'static str); 0: n64, 1: s, 2: s, 3: s);
ord_key!((&'static str, &'static str, &'static str, &'static str); 0: s, 1: s, 2: s, 3: s);

/// A key or value read from a table: redb's guard, or bytes PostgreSQL returned (in
/// redb's encoding). `value()` gives the typed view either way.
pub(super) enum Guard<'a, T: Value + 'static> {
    Redb(redb::AccessGuard<'a, T>),
    Owned(Vec<u8>, PhantomData<T>),
}

impl<T: Value + 'static> Guard<'_, T> {
    pub fn value(&self) -> T::SelfType<'_> {
        match self {
            Guard::Redb(g) => g.value(),
            Guard::Owned(bytes, _) => T::from_bytes(bytes),
        }
    }

    fn owned(bytes: Vec<u8>) -> Self {
        Guard::Owned(bytes, PhantomData)
    }
}

type Row<'a, K, V> = (Guard<'a, K>, Guard<'a, V>);

/// The PostgreSQL table of a table definition (only known names reach SQL).
fn pg_name<K: Key, V: Value>(def: &TableDefinition<'static, K, V>) -> Result<&'static str> {
    super::tables::NAMES
        .iter()
        .find(|n| **n == def.name())
        .copied()
        .ok_or_else(|| Error::Store(format!("no such table: {}", def.name())))
}

/// A read or write transaction on either backend. One lives on the stack per store call:
/// boxing the larger variant would put an allocation on the hot path for nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum ReadTxn {
    Redb(redb::ReadTransaction),
    Pg(PgTx),
}

#[allow(clippy::large_enum_variant)]
pub(super) enum WriteTxn {
    Redb(redb::WriteTransaction),
    Pg(PgTx),
}

impl ReadTxn {
    pub fn open_table<K: OrdKey, V: Value + 'static>(
        &self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<Table<'_, K, V>> {
        Ok(Table(match self {
            ReadTxn::Redb(tx) => Inner::RedbRead(tx.open_table(def).map_err(db)?),
            ReadTxn::Pg(tx) => Inner::Pg(tx, pg_name(&def)?),
        }))
    }
}

impl WriteTxn {
    pub fn open_table<K: OrdKey, V: Value + 'static>(
        &self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<Table<'_, K, V>> {
        Ok(Table(match self {
            WriteTxn::Redb(tx) => Inner::RedbWrite(tx.open_table(def).map_err(db)?),
            WriteTxn::Pg(tx) => Inner::Pg(tx, pg_name(&def)?),
        }))
    }

    pub fn commit(self) -> Result<()> {
        match self {
            WriteTxn::Redb(tx) => tx.commit().map_err(db),
            WriteTxn::Pg(tx) => tx.commit(),
        }
    }

    /// True when [`WriteTxn::isolated`] can undo part of a transaction (PostgreSQL).
    pub fn has_savepoints(&self) -> bool {
        matches!(self, WriteTxn::Pg(_))
    }

    /// Runs `f` so that, when it fails, nothing it wrote stays in the transaction and the
    /// transaction goes on (a PostgreSQL savepoint). redb writes nothing that can fail
    /// part-way but an I/O error, after which the store refuses everything anyway.
    pub fn isolated<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        match self {
            WriteTxn::Redb(_) => f(),
            WriteTxn::Pg(tx) => {
                tx.savepoint()?;
                let out = f();
                match &out {
                    Ok(_) => tx.release()?,
                    Err(_) => tx.rollback_to()?,
                }
                out
            }
        }
    }

    pub fn abort(self) -> Result<()> {
        match self {
            WriteTxn::Redb(tx) => tx.abort().map_err(db),
            WriteTxn::Pg(tx) => tx.rollback(),
        }
    }
}

/// One table in one transaction.
pub(super) struct Table<'t, K: OrdKey, V: Value + 'static>(Inner<'t, K, V>);

enum Inner<'t, K: OrdKey, V: Value + 'static> {
    RedbRead(redb::ReadOnlyTable<K, V>),
    RedbWrite(redb::Table<'t, K, V>),
    Pg(&'t PgTx, &'static str),
}

fn read_only() -> Error {
    Error::Store("a write through a read transaction".into())
}

/// The encoded bounds of a typed range.
fn ord_bounds<'a, K: OrdKey, KR: Borrow<K::SelfType<'a>> + 'a>(
    range: &impl RangeBounds<KR>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let enc = |b: Bound<&KR>| match b {
        Bound::Included(k) => Bound::Included(K::ord(k.borrow())),
        Bound::Excluded(k) => Bound::Excluded(K::ord(k.borrow())),
        Bound::Unbounded => Bound::Unbounded,
    };
    (enc(range.start_bound()), enc(range.end_bound()))
}

impl<'t, K: OrdKey, V: Value + 'static> Table<'t, K, V> {
    pub fn get<'a>(&self, key: impl Borrow<K::SelfType<'a>>) -> Result<Option<Guard<'_, V>>> {
        match &self.0 {
            Inner::RedbRead(t) => Ok(t.get(key).map_err(db)?.map(Guard::Redb)),
            Inner::RedbWrite(t) => Ok(t.get(key).map_err(db)?.map(Guard::Redb)),
            Inner::Pg(tx, name) => Ok(tx.get(name, &K::ord(key.borrow()))?.map(Guard::owned)),
        }
    }

    /// Writes a row (replacing any under the same key).
    pub fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<()> {
        match &mut self.0 {
            Inner::RedbRead(_) => Err(read_only()),
            Inner::RedbWrite(t) => t.insert(key, value).map(|_| ()).map_err(db),
            Inner::Pg(tx, name) => tx.put(
                name,
                &K::ord(key.borrow()),
                V::as_bytes(value.borrow()).as_ref(),
            ),
        }
    }

    /// Removes a row, returning its value when there was one.
    pub fn remove<'a>(
        &mut self,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Option<Guard<'_, V>>> {
        match &mut self.0 {
            Inner::RedbRead(_) => Err(read_only()),
            Inner::RedbWrite(t) => Ok(t.remove(key).map_err(db)?.map(Guard::Redb)),
            Inner::Pg(tx, name) => Ok(tx.delete(name, &K::ord(key.borrow()))?.map(Guard::owned)),
        }
    }

    /// The rows in `range`, in key order.
    pub fn range<'a, KR>(&self, range: impl RangeBounds<KR> + 'a) -> Result<Range<'_, K, V>>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
    {
        match &self.0 {
            Inner::RedbRead(t) => Ok(Range::Redb(t.range(range).map_err(db)?)),
            Inner::RedbWrite(t) => Ok(Range::Redb(t.range(range).map_err(db)?)),
            Inner::Pg(tx, name) => {
                let (from, to) = ord_bounds::<K, KR>(&range);
                Ok(Range::Pg(PgRange::new(tx, name, from, to)))
            }
        }
    }

    /// Every row, in key order.
    pub fn iter(&self) -> Result<Range<'_, K, V>> {
        self.range::<K::SelfType<'_>>(..)
    }

    /// The row with the lowest key.
    pub fn first(&self) -> Result<Option<Row<'_, K, V>>> {
        self.iter()?.next().transpose()
    }

    /// The row with the highest key in `range`.
    pub fn last_in<'a, KR>(&self, range: impl RangeBounds<KR> + 'a) -> Result<Option<Row<'_, K, V>>>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
    {
        match &self.0 {
            Inner::Pg(tx, name) => {
                let (from, to) = ord_bounds::<K, KR>(&range);
                match tx.last(name, &from, &to)? {
                    Some((k, v)) => Ok(Some((Guard::owned(K::redb_bytes(&k)?), Guard::owned(v)))),
                    None => Ok(None),
                }
            }
            _ => self.range(range)?.next_back().transpose(),
        }
    }

    /// How many rows the table holds.
    pub fn len(&self) -> Result<u64> {
        match &self.0 {
            Inner::RedbRead(t) => t.len().map_err(db),
            Inner::RedbWrite(t) => t.len().map_err(db),
            Inner::Pg(tx, name) => tx.count(name),
        }
    }

    /// Keeps only the rows for which `keep` is true.
    pub fn retain<F>(&mut self, keep: F) -> Result<()>
    where
        F: for<'f> FnMut(K::SelfType<'f>, V::SelfType<'f>) -> bool,
    {
        self.retain_in::<K::SelfType<'_>, F>(.., keep)
    }

    /// Keeps only the rows in `range` for which `keep` is true.
    pub fn retain_in<'a, KR, F>(
        &mut self,
        range: impl RangeBounds<KR> + 'a,
        mut keep: F,
    ) -> Result<()>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
        F: for<'f> FnMut(K::SelfType<'f>, V::SelfType<'f>) -> bool,
    {
        match &mut self.0 {
            Inner::RedbRead(_) => Err(read_only()),
            Inner::RedbWrite(t) => t.retain_in(range, keep).map_err(db),
            Inner::Pg(tx, name) => {
                let (from, to) = ord_bounds::<K, KR>(&range);
                let mut doomed = Vec::new();
                for row in PgRange::<K, V>::new(tx, name, from, to) {
                    let (k, v) = row?;
                    let key = K::redb_bytes(&k)?;
                    if !keep(K::from_bytes(&key), V::from_bytes(&v)) {
                        doomed.push(k);
                    }
                }
                tx.delete_many(name, &doomed)
            }
        }
    }

    /// Removes every row in `range`.
    pub fn remove_range<'a, KR>(&mut self, range: impl RangeBounds<KR> + 'a) -> Result<()>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
    {
        match &mut self.0 {
            Inner::Pg(tx, name) => {
                let (from, to) = ord_bounds::<K, KR>(&range);
                tx.delete_range(name, &from, &to)
            }
            _ => self.retain_in(range, |_, _| false),
        }
    }
}

/// Rows of a range, in key order: redb's iterator, or pages of a PostgreSQL query.
pub(super) enum Range<'a, K: OrdKey, V: Value + 'static> {
    Redb(redb::Range<'a, K, V>),
    Pg(PgRange<'a, K, V>),
}

impl<'a, K: OrdKey, V: Value + 'static> Iterator for Range<'a, K, V> {
    type Item = Result<Row<'a, K, V>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Range::Redb(r) => r.next().map(|row| {
                row.map(|(k, v)| (Guard::Redb(k), Guard::Redb(v)))
                    .map_err(db)
            }),
            Range::Pg(r) => r.next().map(|row| {
                let (k, v) = row?;
                Ok((Guard::owned(K::redb_bytes(&k)?), Guard::owned(v)))
            }),
        }
    }
}

impl<'a, K: OrdKey, V: Value + 'static> Range<'a, K, V> {
    fn next_back(&mut self) -> Option<Result<Row<'a, K, V>>> {
        match self {
            Range::Redb(r) => r.next_back().map(|row| {
                row.map(|(k, v)| (Guard::Redb(k), Guard::Redb(v)))
                    .map_err(db)
            }),
            Range::Pg(_) => Some(Err(Error::Store("reverse scan over PostgreSQL".into()))),
        }
    }
}

/// A range over PostgreSQL read a page at a time (keyset pagination), so a caller that
/// stops early reads little, and a long range never sits in memory whole.
pub(super) struct PgRange<'a, K, V> {
    tx: &'a PgTx,
    table: &'static str,
    from: Bound<Vec<u8>>,
    to: Bound<Vec<u8>>,
    page: VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
    types: PhantomData<(K, V)>,
}

impl<'a, K, V> PgRange<'a, K, V> {
    const PAGE: i64 = 512;

    fn new(tx: &'a PgTx, table: &'static str, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> Self {
        PgRange {
            tx,
            table,
            from,
            to,
            page: VecDeque::new(),
            done: false,
            types: PhantomData,
        }
    }
}

impl<K, V> Iterator for PgRange<'_, K, V> {
    /// (ord-encoded key, value bytes)
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && !self.done {
            match self.tx.page(self.table, &self.from, &self.to, Self::PAGE) {
                Ok(rows) => {
                    self.done = (rows.len() as i64) < Self::PAGE;
                    if let Some((last, _)) = rows.last() {
                        self.from = Bound::Excluded(last.clone());
                    }
                    self.page = rows.into();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.page.pop_front().map(Ok)
    }
}
