//! `zpair-cloud`: run the reference activation cloud, or import a factory manifest into it.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use zpair_cloud::store::Store;
use zpair_cloud::{Cloud, Config};

#[derive(Parser)]
#[command(name = "zpair-cloud", version, about = "zpair's reference activation cloud")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the device and app APIs.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Database and TLS material.
        #[arg(long, default_value = "zpair-cloud-data")]
        data_dir: PathBuf,
        /// Serve plain HTTP instead of TLS (tests only).
        #[arg(long)]
        insecure_http: bool,
        /// The region this instance serves.
        #[arg(long, default_value = "eu")]
        region: String,
        /// Host name given to devices as their endpoint.
        #[arg(long, default_value = "localhost")]
        public_host: String,
        /// Bind-polls wait up to this many seconds for a bind (0: answer at once).
        #[arg(long, default_value_t = 0)]
        long_poll_s: u16,
    },
    /// Import a factory manifest (JSON or CSV) into the registry.
    Import {
        /// The manifest.
        manifest: PathBuf,
        /// Database directory.
        #[arg(long, default_value = "zpair-cloud-data")]
        data_dir: PathBuf,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().cmd {
        Cmd::Serve { listen, data_dir, insecure_http, region, public_host, long_poll_s } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let mut cfg = Config::new(listen, data_dir);
                cfg.tls = !insecure_http;
                cfg.region = region;
                cfg.public_host = public_host;
                cfg.long_poll_s = long_poll_s;
                let cloud = Cloud::start(cfg).await?;
                if let Some(ca) = cloud.ca_pem_path() {
                    println!("zpair-cloud listening on {} (CA: {})", cloud.base_url(), ca.display());
                } else {
                    println!("zpair-cloud listening on {} (plain HTTP)", cloud.base_url());
                }
                let trigger = cloud.shutdown_trigger();
                tokio::spawn(async move {
                    let _ = tokio::signal::ctrl_c().await;
                    trigger.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
                });
                cloud.wait().await
            })?;
        }
        Cmd::Import { manifest, data_dir } => {
            let devices = zpair_cloud::manifest::read_manifest(&manifest)?;
            std::fs::create_dir_all(&data_dir)?;
            let store = zpair_cloud::sqlite::SqliteStore::open(&zpair_cloud::server::db_path(&data_dir), 1)?;
            let now = zpair_cloud::clock::Clock::now_ms(&zpair_cloud::SystemClock);
            let report = store.import_devices(&devices, now)?;
            println!("imported {} devices ({} already present)", report.added, report.unchanged);
        }
    }
    Ok(())
}
