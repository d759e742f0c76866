//! `shoal info`.

/// Options of `shoal info`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `shoal info`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`shoal info` is not implemented yet")
}
