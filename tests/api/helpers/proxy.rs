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
    /// Bumped by `silence_open`: the connections open then go silent for good.
    silences: watch::Sender<u64>,
}

/// Why a proxied connection stopped forwarding.
#[derive(PartialEq)]
enum Ended {
    Closed,
    Frozen,
    Silenced,
}

impl ChaosProxy {
    pub async fn start(target_port: u16) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let (frozen, _) = watch::channel(false);
        let (silences, _) = watch::channel(0u64);
        let accept_up = up.clone();
        let accept_cuts = cuts.clone();
        let accept_frozen = frozen.clone();
        let accept_silences = silences.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = accept_cuts.subscribe();
                let mut freeze = accept_frozen.subscribe();
                let mut silence = accept_silences.subscribe();
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
                    // Biased: once told to stop forwarding, not one more byte passes.
                    let ended = tokio::select! {
                        biased;
                        _ = cut.changed() => Ended::Closed,
                        froze = freeze.wait_for(|frozen| *frozen) => match froze {
                            Ok(_) => Ended::Frozen,
                            Err(_) => Ended::Closed,
                        },
                        silenced = silence.changed() => match silenced {
                            Ok(()) => Ended::Silenced,
                            Err(_) => Ended::Closed,
                        },
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => Ended::Closed,
                    };
                    if ended == Ended::Silenced {
                        // Both sockets stay open, and nothing passes, until the test ends.
                        std::future::pending::<()>().await;
                    }
                    if ended == Ended::Frozen {
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
            silences,
        }
    }

    /// Every connection, live or new, goes silent: nothing is forwarded and nothing is closed,
    /// as with a database server that stopped answering. `restore` closes the silent ones.
    pub fn freeze(&self) {
        self.frozen
            .send_if_modified(|frozen| !std::mem::replace(frozen, true));
    }

    /// The connections open now go silent for good, as behind a network that dropped them
    /// without a word; new ones are forwarded as before.
    pub fn silence_open(&self) {
        self.silences.send_modify(|n| *n += 1);
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
