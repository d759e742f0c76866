//! `shoal demo`.

/// Options of `shoal demo`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `shoal demo`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`shoal demo` is not implemented yet")
}
