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
    /// While true, every connection is silent: nothing is forwarded and nothing is closed.
    frozen: watch::Sender<bool>,
}

impl ChaosProxy {
    pub async fn start(target_port: u16) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let (frozen, _) = watch::channel(false);
        let accept_up = up.clone();
        let accept_cuts = cuts.clone();
        let accept_frozen = frozen.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = accept_cuts.subscribe();
                let mut freeze = accept_frozen.subscribe();
                tokio::spawn(async move {
                    if *freeze.borrow_and_update() {
                        // Accepted and left unanswered, as by a server that stopped.
                        let _ = freeze.wait_for(|frozen| !*frozen).await;
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    let froze = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        _ = cut.changed() => false,
                        froze = freeze.wait_for(|frozen| *frozen) => froze.is_ok(),
                    };
                    if froze {
                        // Silent until restored, then closed: bytes may have been lost.
                        let _ = freeze.wait_for(|frozen| !*frozen).await;
                    }
                });
            }
        });
        ChaosProxy {
            port,
            up,
            cuts,
            frozen,
        }
    }

    /// Every connection, live or new, goes silent: nothing is forwarded and nothing is closed,
    /// as with a database server that stopped answering. `restore` closes the silent ones.
    pub fn freeze(&self) {
        self.frozen
            .send_if_modified(|frozen| !std::mem::replace(frozen, true));
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
        self.frozen
            .send_if_modified(|frozen| std::mem::replace(frozen, false));
        self.up.store(true, Ordering::SeqCst);
    }
}
