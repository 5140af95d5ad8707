//! Generated passwords. The server only ever receives the SCRAM-SHA-256
//! verifier, computed here, so the plaintext cannot land in its logs
//! (`log_statement`, a failed statement's echo). [`Secret`] never prints
//! itself in `Debug`, so it cannot leak through an error or a log line.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::postgres::conn::ConnSpec;

/// Letters and digits only: safe in a URL, a .pgpass line and a shell.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
/// 32 characters of a 57-letter alphabet: about 186 bits.
const LENGTH: usize = 32;

/// A generated password.
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// From the kernel's random source, by rejection sampling so that every
    /// letter of the alphabet is equally likely.
    pub fn generate() -> Result<Secret> {
        let mut random = std::fs::File::open("/dev/urandom").map_err(|e| Error::io("opening /dev/urandom", e))?;
        let limit = u8::try_from(256 - 256 % ALPHABET.len()).unwrap_or(u8::MAX);
        let mut out = String::with_capacity(LENGTH);
        let mut buf = [0u8; 64];
        while out.len() < LENGTH {
            random
                .read_exact(&mut buf)
                .map_err(|e| Error::io("reading /dev/urandom", e))?;
            for &b in &buf {
                if b < limit && out.len() < LENGTH {
                    out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
                }
            }
        }
        Ok(Secret(out))
    }

    /// The plaintext, for showing it once or writing the password file.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What `ALTER ROLE ... PASSWORD` stores: `SCRAM-SHA-256$4096:salt$key:key`.
    pub fn scram_verifier(&self) -> String {
        postgres_protocol::password::scram_sha_256(self.0.as_bytes())
    }
}

/// The password file written before the commit, under a temporary name;
/// renamed into place once the roles exist, removed if they do not.
pub struct PendingFile {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl PendingFile {
    /// Writes `.pgpass` lines (host:port:database:role:password), mode 0600.
    pub fn write(path: &Path, target: &ConnSpec, passwords: &[(String, Secret)]) -> Result<PendingFile> {
        if path.exists() {
            return Err(Error::Usage(format!(
                "password file {} already exists; godwit does not overwrite one (nothing was changed)",
                path.display()
            )));
        }
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".godwit-passwords")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(|e| Error::io(format!("creating a file in {}", dir.display()), e))?;
        let field = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
        let mut text = String::new();
        for (role, secret) in passwords {
            text.push_str(&format!(
                "{}:{}:{}:{}:{}\n",
                field(&target.host),
                target.port,
                field(&target.dbname),
                field(role),
                secret.expose()
            ));
        }
        temp.write_all(text.as_bytes())
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok(PendingFile {
            temp,
            path: path.to_path_buf(),
        })
    }

    /// Moves the file into place (refusing to replace one made meanwhile).
    pub fn keep(self) -> Result<PathBuf> {
        self.temp
            .persist_noclobber(&self.path)
            .map_err(|e| Error::io(format!("writing {}", self.path.display()), e.error))?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_varied_and_never_debug_printed() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_eq!(a.expose().len(), LENGTH);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().bytes().all(|c| ALPHABET.contains(&c)));
        assert!(!format!("{a:?}").contains(a.expose()));
        let verifier = a.scram_verifier();
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
        assert!(!verifier.contains(a.expose()));
    }
}
