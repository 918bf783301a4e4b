//! The master key, as the operator supplies it: `--key-file`, else `QUALIFY_MASTER_KEY`,
//! else a dev key generated in the data folder with owner-only permissions (and a warning).
//! The engine never reads keys itself; this module hands it one.

use anyhow::{bail, Context, Result};
use qualify_engine::{Error, SecretKey, Store};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable holding the master key (64 hex characters).
pub const KEY_ENV: &str = "QUALIFY_MASTER_KEY";

/// Where the master key came from.
pub enum KeySource {
    /// `--key-file`.
    File(PathBuf),
    /// The environment variable.
    Env,
    /// The dev key in the data folder.
    Dev(PathBuf),
}

fn parse(text: &str, from: &str) -> Result<SecretKey> {
    SecretKey::from_hex(text)
        .with_context(|| format!("{from}: expected a master key of 64 hexadecimal characters"))
}

/// Writes a key file readable by its owner only.
pub fn write_key_file(path: &Path, key: &SecretKey) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(key.to_hex().as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}

/// True when a file can be read by others than its owner.
pub fn too_open(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Resolves the master key; warnings go to `warn`.
pub fn master_key(
    data: &Path,
    key_file: Option<&Path>,
    warn: &mut impl Write,
) -> Result<(SecretKey, KeySource)> {
    if let Some(path) = key_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?;
        if too_open(path) {
            writeln!(
                warn,
                "qualify: warning: key file {} is readable by others (chmod 600 it)",
                path.display()
            )?;
        }
        return Ok((
            parse(&text, &path.display().to_string())?,
            KeySource::File(path.to_owned()),
        ));
    }
    if let Ok(text) = std::env::var(KEY_ENV) {
        return Ok((parse(&text, KEY_ENV)?, KeySource::Env));
    }
    let path = data.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if too_open(&path) {
            writeln!(
                warn,
                "qualify: warning: dev key {} is readable by others (chmod 600 it)",
                path.display()
            )?;
        }
        return Ok((
            parse(&text, &path.display().to_string())?,
            KeySource::Dev(path),
        ));
    }
    create_data_dir(data)?;
    let key = SecretKey::generate();
    write_key_file(&path, &key)?;
    writeln!(
        warn,
        "qualify: warning: no master key given (--key-file or {KEY_ENV}); generated a dev key in {} (owner-only). Use your own key in production.",
        path.display()
    )?;
    Ok((key, KeySource::Dev(path)))
}

/// Creates the data folder, owner-only.
pub fn create_data_dir(data: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(data)
        .with_context(|| format!("cannot create data folder {}", data.display()))
}

/// Opens the store in `args.data` with the resolved master key and the page cache
/// `args.cache_mib`. A dev-key rotation that was interrupted after its commit (the new
/// key still in `master.key.next`) is finished here.
pub fn open_store(
    args: &crate::cli::StoreArgs,
    warn: &mut impl Write,
) -> Result<(Store, KeySource)> {
    let (data, key_file) = (args.data.as_path(), args.key_file.as_deref());
    let cache = args.cache_mib.saturating_mul(1 << 20);
    if let Some(url) = &args.database {
        let (key, source) = shared_master_key(key_file, warn)?;
        return Ok((Store::open_postgres(url, key)?, source));
    }
    let (key, source) = master_key(data, key_file, warn)?;
    create_data_dir(data)?;
    let file = data.join("qualify.redb");
    if !file.exists() {
        // Owner-only from the start (redb would create it with the default umask).
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
            .open(&file)
            .with_context(|| format!("cannot create {}", file.display()))?;
    }
    match Store::open_with_cache(&file, key, cache) {
        Ok(store) => Ok((store, source)),
        Err(Error::WrongMasterKey) => {
            if let KeySource::Dev(path) = &source {
                let next = path.with_extension("key.next");
                if let Ok(text) = std::fs::read_to_string(&next) {
                    let store = Store::open_with_cache(
                        &file,
                        parse(&text, &next.display().to_string())?,
                        cache,
                    )?;
                    std::fs::rename(&next, path)?;
                    return Ok((store, source));
                }
            }
            bail!("{}: {}", file.display(), Error::WrongMasterKey)
        }
        Err(e) => Err(e.into()),
    }
}

/// The master key of a store shared by replicas: given by `--key-file` or the
/// environment, never a dev key (each machine would generate its own).
fn shared_master_key(
    key_file: Option<&Path>,
    warn: &mut impl Write,
) -> Result<(SecretKey, KeySource)> {
    if key_file.is_none() && std::env::var_os(KEY_ENV).is_none() {
        bail!(
            "a PostgreSQL store needs the deployment's master key: give --key-file or \
             {KEY_ENV} (every replica the same one; no dev key is generated)"
        );
    }
    master_key(Path::new(""), key_file, warn)
}

/// Opens the existing store in `args.data` read-only (`qualify replay`): nothing in the
/// data folder is created or changed, so no dev key is generated either. A missing store
/// or key is an error saying which.
pub fn open_store_read_only(args: &crate::cli::StoreArgs, warn: &mut impl Write) -> Result<Store> {
    if let Some(url) = &args.database {
        let (key, _) = shared_master_key(args.key_file.as_deref(), warn)?;
        return Ok(Store::open_postgres_read_only(url, key)?);
    }
    let data = args.data.as_path();
    let file = data.join("qualify.redb");
    if !file.is_file() {
        bail!(
            "no store at {} (give its data folder with --data)",
            file.display()
        );
    }
    let dev = data.join("master.key");
    if args.key_file.is_none() && std::env::var_os(KEY_ENV).is_none() && !dev.exists() {
        bail!(
            "no master key for {}: give --key-file or {KEY_ENV} (a read-only open generates none)",
            file.display()
        );
    }
    let (key, _) = master_key(data, args.key_file.as_deref(), warn)?;
    let cache = args.cache_mib.saturating_mul(1 << 20);
    Store::open_read_only(&file, key, cache).map_err(|e| match e {
        Error::WrongMasterKey => anyhow::anyhow!("{}: {e}", file.display()),
        e => e.into(),
    })
}

/// Rotates the master key: to the key in `new_file`, or (dev key only) to a freshly
/// generated dev key. Returns how many tenant keys were re-wrapped.
pub fn rotate(store: &Store, source: &KeySource, new_file: Option<&Path>) -> Result<usize> {
    match (new_file, source) {
        (Some(f), _) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            Ok(store.rotate_master_key(parse(&text, &f.display().to_string())?)?)
        }
        (None, KeySource::Dev(path)) => {
            // New key on disk first, then the re-wrap, then the rename: a crash at any
            // point leaves a key that opens the store (see `open_store`).
            let next = path.with_extension("key.next");
            let _ = std::fs::remove_file(&next);
            let key = SecretKey::generate();
            write_key_file(&next, &key)?;
            let n = store.rotate_master_key(key)?;
            std::fs::rename(&next, path)?;
            Ok(n)
        }
        (None, _) => bail!(
            "give the new master key with --new-key-file (the current one is operator-supplied)"
        ),
    }
}

/// Dev mode's tenant API key secret and admin key, derived from the dev master key: the
/// same after every restart, and never stored in the clear beside it. `None` unless the
/// master key is the dev key.
pub fn dev_secrets(source: &KeySource) -> Result<Option<(SecretKey, SecretKey)>> {
    let KeySource::Dev(path) = source else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let master = parse(&text, &path.display().to_string())?;
    Ok(Some((
        master.derive("qualify dev tenant api key"),
        master.derive("qualify dev admin key"),
    )))
}

/// Writes a secret to an owner-only file, replacing an older one.
pub fn write_secret_file(path: &Path, secret: &str) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(f, "{secret}")?;
    Ok(())
}
