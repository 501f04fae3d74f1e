//! `loket init`: a commented starter config. It is `loket.example.toml` from the repository
//! (embedded at build time) with its own opening lines and the chosen language, so it can only
//! say what the config loader accepts: a unit test loads what it writes, as another loads the
//! example.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

const EXAMPLE: &str = include_str!("../../loket.example.toml");

const HEADER_ID: &str = "\
# Loket: konfigurasi awal, ditulis oleh `loket init`. Ganti alamat, host, kata sandi, teknisi
# dan manajer di bawah ini, lalu periksa dengan
#
#     loket check --config loket.toml                  # konfigurasi, login IMAP dan SMTP
#     loket rules test --config loket.toml surat.eml   # bagaimana aturan menggolongkan sebuah email
#
# Kunci yang tidak dikenal dan nilai yang salah menghentikan Loket saat mulai, dengan pesan yang
# menyebut kuncinya. Durasi ditulis \"30s\", \"15m\", \"4h\", \"2days\". Email yang dikirim Loket
# memakai template bawaan berbahasa Indonesia (id) atau Inggris (en): lihat [templates].
# Komentar di bawah ini berbahasa Inggris.
";

const HEADER_EN: &str = "\
# Loket: a starter configuration written by `loket init`. Change the addresses, hosts,
# passwords, technicians and managers below, then check it with
#
#     loket check --config loket.toml                  # config, IMAP and SMTP logins
#     loket rules test --config loket.toml some.eml    # how the rules classify a saved mail
#
# Unknown keys and bad values stop Loket at start with an error that names the key. Durations are
# humantime strings (\"30s\", \"15m\", \"4h\", \"2days\"). The mails Loket sends use the built-in
# templates in English (en) or Bahasa Indonesia (id): see [templates].
";

/// The starter config for `lang` ("id" or "en").
pub fn starter_config(lang: &str) -> Result<String> {
    let header = match lang {
        "id" => HEADER_ID,
        "en" => HEADER_EN,
        other => bail!("--lang `{other}` is not one of id, en"),
    };
    // The example's own opening comment ends where its first table begins.
    let body_start = EXAMPLE
        .find("\n[")
        .context("loket.example.toml has no table")?;
    let mut out = String::with_capacity(EXAMPLE.len() + header.len());
    out.push_str(header);
    let mut section = "";
    let mut language_set = false;
    for line in EXAMPLE[body_start..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            section = trimmed.split(']').next().unwrap_or("");
        }
        if section == "[helpdesk" && trimmed.starts_with("language") && trimmed.contains('=') {
            // Keep the explanation after the value.
            let comment = line.find('#').map(|i| &line[i..]).unwrap_or("\n");
            let setting = format!("language = \"{lang}\"");
            out.push_str(&format!("{setting:<36}{comment}"));
            if !comment.ends_with('\n') {
                out.push('\n');
            }
            language_set = true;
            continue;
        }
        out.push_str(line);
    }
    if !language_set {
        bail!("loket.example.toml has no helpdesk.language line to set");
    }
    Ok(out)
}

/// Writes the starter config to `path`, never over an existing file. Readable by its owner and
/// group only: a config names the company's mail servers (and may later hold passwords).
pub fn write_starter(path: &Path, lang: &str) -> Result<()> {
    let text = starter_config(lang)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating folder {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o640);
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; loket init does not overwrite a config (move it away or give \
             another path: loket init new.toml)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn starter_config_loads_in_both_languages() {
        for lang in ["id", "en"] {
            let text = starter_config(lang).unwrap();
            let cfg = Config::from_toml(&text, Path::new("loket.toml"))
                .unwrap_or_else(|e| panic!("starter config ({lang}): {e}"));
            assert_eq!(cfg.helpdesk.language, lang);
            assert!(text.starts_with("# Loket: "), "{lang}");
            assert!(text.contains("loket init"), "{lang}");
            // The example rules and both template languages come along.
            assert!(
                !cfg.rules.is_empty() && !cfg.categories.is_empty(),
                "{lang}"
            );
            assert!(text.contains("/id/") && text.contains("/en/"), "{lang}");
            // Safe by default: commands count only from authenticated mail (#21).
            assert!(cfg.security.require_authenticated_commands, "{lang}");
            assert!(cfg.security.authserv_id.is_some(), "{lang}");
            assert!(text.contains("\n[security]\n"), "{lang}");
            // The example's own opening lines are replaced.
            assert!(!text.contains("A unit test loads this file"), "{lang}");
        }
        assert!(starter_config("fr").is_err());
    }

    #[test]
    fn init_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/loket.toml");
        write_starter(&path, "en").unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(Config::load(&path).is_ok());
        let err = write_starter(&path, "id").unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o007, 0, "not readable by others: {mode:o}");
        }
    }
}
