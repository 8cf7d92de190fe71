//! The threads that sign the token endpoint's tokens. One RSA-2048 signature is about 0.25 ms of
//! CPU: too long for an async worker, which would hold up every other request it serves, and too
//! short for a thread of its own. Signing runs on a fixed pool of two threads per core, fed in
//! order through a bounded queue, so a burst of requests queues up instead of waking dozens of
//! blocking threads that then fight for the cores (what `spawn_blocking` does under load, and what
//! showed up as the p99 of the token endpoint).
//!
//! The pool starts on the first signature and its threads end when the [`Signer`] is dropped.
//! A full queue makes callers wait (back-pressure on the requests, not on the threads).

use std::sync::{Arc, Mutex, OnceLock};

use s2s::token::{ActorClaims, Header, SigningKey, TokenError, jws};
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for a signing thread before callers wait to enqueue.
const QUEUE_DEPTH: usize = 1024;
/// Signing threads per core. Measured with `bench/server.sh` on 2 cores, wrk on the same cores (a
/// fresh token per request: share of `openssl speed -multi 2` / median p99 of three 10-s runs at 70 %
/// of peak): signing on the async workers themselves 80 % / 41 ms; 1 per core 73 % / 4.6 ms;
/// 2 per core 79 % / 8.5 ms; 4 per core 79 % / 12 ms (5-s runs). With one per core the signers
/// lose CPU to the threads that do the I/O on the same cores; more lengthen the tail.
pub const THREADS_PER_CORE: usize = 2;

/// What can go wrong when signing on the pool.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The signature itself failed.
    #[error("signing failed: {0}")]
    Sign(#[from] TokenError),
    /// No signing thread could be started.
    #[error("cannot start a signing thread: {0}")]
    Spawn(String),
    /// The pool shut down while the request waited.
    #[error("the signing threads have stopped")]
    Stopped,
}

/// A job for a signing thread: sign, then send the token back.
struct Job {
    header: Header,
    claims: ActorClaims,
    key: Arc<SigningKey>,
    reply: oneshot::Sender<Result<String, TokenError>>,
}

/// A pool of signing threads (see the module documentation).
pub struct Signer {
    threads: usize,
    pool: OnceLock<Result<Pool, String>>,
}

/// The started pool: the queue's sending end (dropping it ends the threads) and the threads.
struct Pool {
    queue: mpsc::Sender<Job>,
    /// Nobody joins them: they end on their own once the queue closes (tests join them).
    #[cfg_attr(not(test), allow(dead_code))]
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Signer {
    /// A pool of `threads` signing threads (at least one), started on first use.
    pub fn new(threads: usize) -> Self {
        Self { threads: threads.max(1), pool: OnceLock::new() }
    }

    /// A pool with [`THREADS_PER_CORE`] threads per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, usize::from) * THREADS_PER_CORE)
    }

    /// Signs `claims` under `header` with `key` on a signing thread.
    pub async fn sign(&self, header: Header, claims: ActorClaims, key: Arc<SigningKey>) -> Result<String, SignerError> {
        let pool = self.pool.get_or_init(|| start(self.threads)).as_ref().map_err(|e| SignerError::Spawn(e.clone()))?;
        let (reply, answer) = oneshot::channel();
        pool.queue.send(Job { header, claims, key, reply }).await.map_err(|_| SignerError::Stopped)?;
        Ok(answer.await.map_err(|_| SignerError::Stopped)??)
    }
}

/// Starts `threads` threads that take jobs from one queue until every sender is gone.
fn start(threads: usize) -> Result<Pool, String> {
    let (queue, receiver) = mpsc::channel::<Job>(QUEUE_DEPTH);
    let receiver = Arc::new(Mutex::new(receiver));
    let threads = (0..threads)
        .map(|n| {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("s2s-signer-{n}"))
                .spawn(move || work(&receiver))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Pool { queue, threads: Mutex::new(threads) })
}

/// One signing thread: waits for a job (one thread at a time holds the receiver), signs it outside
/// the lock, answers, and stops when the queue closes.
fn work(receiver: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match receiver.lock() {
            Ok(mut receiver) => receiver.blocking_recv(),
            Err(_) => None,
        };
        let Some(job) = job else { return };
        let token = jws::sign(&job.header, &job.claims, &job.key);
        // The requester may have gone (client disconnected): nothing to do then.
        let _ = job.reply.send(token);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use s2s::token::VerifyingKey;
    use s2s::token::jws::Compact;

    use super::*;

    fn key() -> (Arc<SigningKey>, VerifyingKey) {
        let now = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let cert = crate::issuer::generate("signer.test", &[], 2048, 30, now).unwrap();
        let signing = SigningKey::from_pkcs8(&cert.key_pkcs8, &cert.cert_der).unwrap();
        let verifying = VerifyingKey::from_certificate(&cert.cert_der).unwrap();
        (Arc::new(signing), verifying)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_signatures_all_verify() {
        let (key, verifying) = key();
        let signer = Arc::new(Signer::new(2));
        let mut tasks = Vec::new();
        for n in 0..200 {
            let signer = Arc::clone(&signer);
            let key = Arc::clone(&key);
            tasks.push(tokio::spawn(async move {
                let claims = ActorClaims { nameid: Some(format!("client-{n}@realm")), ..ActorClaims::default() };
                let header = Header { alg: "RS256".into(), ..Header::default() };
                signer.sign(header, claims, key).await.unwrap()
            }));
        }
        for (n, task) in tasks.into_iter().enumerate() {
            let token = task.await.unwrap();
            let compact = Compact::split(&token).unwrap();
            compact.verify("RS256", &verifying).unwrap();
            let claims: serde_json::Value = compact.claims().unwrap();
            assert_eq!(claims["nameid"], format!("client-{n}@realm"));
        }
    }

    impl Signer {
        /// The started threads, for the caller to join.
        fn take_threads(&self) -> Vec<std::thread::JoinHandle<()>> {
            let pool = self.pool.get().unwrap().as_ref().unwrap();
            std::mem::take(&mut *pool.threads.lock().unwrap())
        }
    }

    #[tokio::test]
    async fn dropping_the_signer_stops_its_threads() {
        let (key, _) = key();
        let signer = Signer::new(3);
        signer.sign(Header { alg: "RS256".into(), ..Header::default() }, ActorClaims::default(), key).await.unwrap();
        let threads = signer.take_threads();
        assert_eq!(threads.len(), 3);
        assert!(threads.iter().all(|t| !t.is_finished()), "the threads wait for work while the signer lives");
        drop(signer);
        // Joined on a thread of its own, so that a signer whose threads never end fails the test
        // instead of hanging it; a generous bound, since ending takes microseconds.
        let (ended, joined) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let names: Vec<String> = threads
                .into_iter()
                .map(|t| (t.thread().name().unwrap().to_owned(), t.join()))
                .map(|(n, r)| {
                    r.unwrap();
                    n
                })
                .collect();
            let _ = ended.send(names);
        });
        let names = joined
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the signing threads still run after the signer was dropped");
        assert_eq!(names, ["s2s-signer-0", "s2s-signer-1", "s2s-signer-2"]);
    }
}
