//! The command line: this bench's own flags, picked out by hand, and every other argument
//! kept in order to be passed to the load generator unchanged (clap cannot collect unknown
//! flags interleaved with known ones).

use std::path::PathBuf;

/// Which peers to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerChoice {
    /// Bun (uWebSockets) only.
    Bun,
    /// Node + ws only.
    Node,
    /// Both.
    Both,
}

/// This bench's settings.
#[derive(Debug, Clone)]
pub struct Cli {
    /// Peers to run.
    pub peer: PeerChoice,
    /// Rounds of (peers, then each brainwrite configuration), interleaved.
    pub repeat: u32,
    /// A label for the combined report and its file name.
    pub label: Option<String>,
    /// The brainwrite binary (default: `release/brainwrite` in this cargo target dir).
    pub brainwrite: Option<PathBuf>,
    /// The load generator binary (default: built with `cargo bench --bench loadgen --no-run`).
    pub loadgen: Option<PathBuf>,
    /// The read-only peers folder to copy.
    pub peers_src: PathBuf,
    /// Where to copy it, install its packages and keep run logs (default: `peers/` in the
    /// cargo target dir).
    pub work_dir: Option<PathBuf>,
    /// The combined JSON report (default: under the work dir).
    pub json: Option<PathBuf>,
    /// Also write `benches/results/peers-<label>.json`.
    pub save: bool,
    /// Skip the brainwrite `--shards=1` runs.
    pub no_single_shard: bool,
    /// Skip the runs of brainwrite with its default journal (only `--memory`).
    pub no_journal: bool,
    /// Arguments for the load generator (the load flags), in order.
    pub loadgen_args: Vec<String>,
    /// `--server-arg=…` values, given to the spawned brainwrite only.
    pub server_args: Vec<String>,
}

/// The help text.
pub const HELP: &str = "\
peers: the load generator against brainwrite and against a peer (../shared/peers) in one run

usage: cargo bench --bench peers -- [OPTIONS] [LOADGEN OPTIONS]

options of this command:
  --peer bun|node|both     which peer(s) to run (default bun)
  --repeat N               rounds of runs, interleaved: peer, brainwrite, brainwrite
                           --shards=1, the same two with a journal, peer, ... (default 1)
  --label X                name of the combined report
  --brainwrite PATH        brainwrite binary (default: release/brainwrite in the cargo
                           target dir; build it with cargo build --release --bin brainwrite)
  --loadgen PATH           load generator binary (default: cargo bench --bench loadgen
                           --no-run, then the executable it names)
  --peers-src DIR          the peers folder, copied before use (default ../shared/peers)
  --work-dir DIR           where it is copied and installed, and run logs go (default:
                           peers/ in the cargo target dir)
  --json PATH              combined JSON report (default: <work dir>/peers-<label|time>.json)
  --save                   also write benches/results/peers-<label>.json (needs --label)
  --no-single-shard        skip the brainwrite --shards=1 runs
  --no-journal             skip the runs with brainwrite's default journal (SQLite, a
                           fresh file; the load generator's --server-journal): only --memory
  -h, --help               this text

Every other argument goes to the load generator unchanged, for every run (see
cargo bench --bench loadgen -- --help), except --server-arg=..., which goes to the spawned
brainwrite only. --url, --server-pid, --spawn-server, --json and --label of the load
generator are set by this command, and --peer-compat for the peer's runs only (the peer
sends no acks and welcomes a board as \"watcher\"; brainwrite is checked as usual).

example (small size):
  cargo bench --bench peers -- --peer bun --rooms 20 --participants 6 --rounds 2 --round-seconds 2
";

/// Flags of the load generator this command sets itself.
const RESERVED: &[&str] = &[
    "--url",
    "--server-pid",
    "--spawn-server",
    "--json",
    "--worker",
    "--peer-compat",
    "--server-journal",
];

/// What parsing produced.
pub enum Parsed {
    /// Run with these settings.
    Run(Box<Cli>),
    /// Print the help and stop.
    Help,
}

/// Parse `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut cli = Cli {
        peer: PeerChoice::Bun,
        repeat: 1,
        label: None,
        brainwrite: None,
        loadgen: None,
        peers_src: PathBuf::from("../shared/peers"),
        work_dir: None,
        json: None,
        save: false,
        no_single_shard: false,
        no_journal: false,
        loadgen_args: Vec::new(),
        server_args: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().ok_or_else(|| format!("{what} needs a value")),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            // Passed by `cargo bench`.
            "--bench" => {}
            "--peer" => {
                cli.peer = match value("--peer")?.as_str() {
                    "bun" => PeerChoice::Bun,
                    "node" => PeerChoice::Node,
                    "both" => PeerChoice::Both,
                    other => return Err(format!("--peer {other}: expected bun, node or both")),
                }
            }
            "--repeat" => {
                let v = value("--repeat")?;
                cli.repeat = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("--repeat {v}: expected a whole number >= 1"))?;
            }
            "--label" => cli.label = Some(value("--label")?),
            "--brainwrite" => cli.brainwrite = Some(value("--brainwrite")?.into()),
            "--loadgen" => cli.loadgen = Some(value("--loadgen")?.into()),
            "--peers-src" => cli.peers_src = value("--peers-src")?.into(),
            "--work-dir" => cli.work_dir = Some(value("--work-dir")?.into()),
            "--json" => cli.json = Some(value("--json")?.into()),
            "--save" => cli.save = true,
            "--no-single-shard" => cli.no_single_shard = true,
            "--no-journal" => cli.no_journal = true,
            "--server-arg" => cli.server_args.push(value("--server-arg")?),
            n if RESERVED.contains(&n) => {
                return Err(format!(
                    "{n} is set by this command for each run; leave it out (see --help)"
                ));
            }
            _ => cli.loadgen_args.push(arg),
        }
    }
    if cli.save && cli.label.is_none() {
        return Err("--save needs --label (the file is benches/results/peers-<label>.json)".into());
    }
    if let Some(l) = &cli.label {
        if l.is_empty() || l.contains(['/', '\\']) || l.starts_with('.') {
            return Err(format!(
                "--label {l:?}: give a plain name (it becomes part of a file name)"
            ));
        }
    }
    Ok(Parsed::Run(Box::new(cli)))
}
