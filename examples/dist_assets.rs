//! The man pages and shell completions of the Debian package, made from the clap definitions in
//! `loket::cli` so they cannot drift from the flags the binary accepts. An example rather than a
//! hidden subcommand: the shipped binary carries neither clap_mangen nor clap_complete.
//!
//!   cargo run --example dist_assets -- OUT_DIR
//!
//! writes OUT_DIR/man/loket.1 and one page per subcommand (loket-tickets-list.1, ...), and
//! OUT_DIR/completions/{loket.bash,_loket,loket.fish}. scripts/package.sh installs them where
//! Debian looks for them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use clap_complete::Shell;

use loket::cli::Cli;

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        bail!("usage: dist_assets OUT_DIR");
    };
    let out = PathBuf::from(out);

    let man = out.join("man");
    std::fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    // generate_to builds the command itself, without clap's `help` pseudo-subcommand.
    clap_mangen::generate_to(Cli::command(), &man)
        .with_context(|| format!("writing man pages to {}", man.display()))?;

    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)
        .with_context(|| format!("creating {}", completions.display()))?;
    for (shell, name) in [
        (Shell::Bash, "loket.bash"),
        (Shell::Zsh, "_loket"),
        (Shell::Fish, "loket.fish"),
    ] {
        write_completion(shell, &completions.join(name))?;
    }
    Ok(())
}

fn write_completion(shell: Shell, path: &Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(file);
    clap_complete::generate(shell, &mut Cli::command(), "loket", &mut w);
    w.flush()
        .with_context(|| format!("writing {}", path.display()))
}
