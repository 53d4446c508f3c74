//! [`Proxy`]: a TCP proxy a test can cut, to take a server away from its
//! clients without stopping it (a server shared by other tests, or one
//! too slow to restart).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Forwards connections on its own port to `upstream`. While
/// [`cut`](Self::cut), it closes every open connection and each new one
/// as soon as it is accepted: to the client, the server is gone.
pub struct Proxy {
    port: u16,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    cut: AtomicBool,
    /// Connections forwarded so far.
    accepted: AtomicUsize,
    open: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`) on a free local port.
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let upstream = upstream.to_owned();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if shared.cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                shared.remember(&client, &server);
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Self { port, state }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections it has forwarded (refused ones aside): a
    /// client that keeps its connection opens one.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Closes every connection and refuses new ones until
    /// [`restore`](Self::restore).
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for stream in self.state.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl State {
    fn remember(&self, client: &TcpStream, server: &TcpStream) {
        let mut open = self.open.lock().unwrap();
        for stream in [client, server] {
            if let Ok(stream) = stream.try_clone() {
                open.push(stream);
            }
        }
    }
}

/// Copies `from` to `to` on a thread of its own until either side ends.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buffer = [0; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0 || to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
