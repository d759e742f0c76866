//! `shoal tracker`.

/// Options of `shoal tracker`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `shoal tracker`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`shoal tracker` is not implemented yet")
}
