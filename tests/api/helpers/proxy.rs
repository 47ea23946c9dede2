//! A TCP proxy between Hookbox and Postgres that a test can cut and restore, to simulate a
//! database outage without touching the shared server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct ChaosProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    /// Bumped on every cut so that live connections close.
    cuts: watch::Sender<u64>,
}

impl ChaosProxy {
    pub async fn start(target_port: u16) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let accept_up = up.clone();
        let accept_cuts = cuts.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = accept_cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        ChaosProxy { port, up, cuts }
    }

    /// Closes every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Refuses new connections and leaves the live ones be, as a Postgres out of connection
    /// slots does.
    pub fn refuse_new(&self) {
        self.up.store(false, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
