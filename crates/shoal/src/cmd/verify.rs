//! `shoal verify`.

/// Options of `shoal verify`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `shoal verify`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`shoal verify` is not implemented yet")
}
