//! Group commit: concurrent writers share fsyncs and every acknowledged
//! event is stored.

mod common;

use common::{event, open, open_with};
use std::sync::Barrier;
use ymt_store::{EventStore, StoreConfig};

const THREADS: usize = 8;
const BATCHES_PER_THREAD: usize = 25;
const EVENTS_PER_BATCH: usize = 10;

fn batch(thread: usize, batch: usize) -> Vec<ymt_store::NewEvent> {
    (0..EVENTS_PER_BATCH)
        .map(|i| {
            event(
                &format!("t{thread}-b{batch}-e{i}"),
                &format!("person-{}", (thread + i) % 5),
                1_000 + batch as i64,
                format!("{thread}/{batch}/{i}").as_bytes(),
            )
        })
        .collect()
}

/// Every event must be stored once, with its payload, and nothing else.
fn assert_all_present(store: &dyn EventStore) {
    let all = store.scan_from(0, 100_000).unwrap();
    assert_eq!(all.len(), THREADS * BATCHES_PER_THREAD * EVENTS_PER_BATCH);
    for thread in 0..THREADS {
        for b in 0..BATCHES_PER_THREAD {
            for expected in batch(thread, b) {
                let stored = store.event_by_id(&expected.id).unwrap().unwrap();
                assert_eq!(stored.payload, expected.payload);
                assert_eq!(stored.person, expected.person);
            }
        }
    }
    let mut seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), all.len());
}

#[test]
fn concurrent_blocking_writers_all_land_and_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let store = &store;
            scope.spawn(move || {
                for b in 0..BATCHES_PER_THREAD {
                    let outcomes = store.append(batch(thread, b)).unwrap();
                    assert!(outcomes.iter().all(|o| !o.duplicate));
                    // Each batch's events get consecutive numbers.
                    assert!(outcomes.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
                }
            });
        }
    });
    assert_all_present(&store);
    let stats = store.stats();
    assert_eq!(stats.jobs, (THREADS * BATCHES_PER_THREAD) as u64);
    // Free-running threads may or may not overlap; at most one commit each.
    assert!(stats.commits <= stats.jobs, "{stats:?}");
}

#[test]
fn batches_queued_together_are_committed_with_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        &dir,
        StoreConfig {
            queue_batches_max: THREADS * BATCHES_PER_THREAD,
            ..StoreConfig::default()
        },
    );
    let submitted = Barrier::new(THREADS + 1);
    std::thread::scope(|scope| {
        let pause = store.pause_writer();
        let mut handles = Vec::new();
        for thread in 0..THREADS {
            let store = &store;
            let submitted = &submitted;
            handles.push(scope.spawn(move || {
                let receivers: Vec<_> = (0..BATCHES_PER_THREAD)
                    .map(|b| store.submit(batch(thread, b)).unwrap())
                    .collect();
                submitted.wait();
                for receiver in receivers {
                    receiver.blocking_recv().unwrap().unwrap();
                }
            }));
        }
        submitted.wait();
        drop(pause);
        for handle in handles {
            handle.join().unwrap();
        }
    });
    assert_all_present(&store);
    let stats = store.stats();
    let batches = (THREADS * BATCHES_PER_THREAD) as u64;
    assert_eq!(stats.jobs, batches);
    // The writer may have taken the first batch before pausing; everything
    // else waited in the queue and went into one group.
    assert!(stats.commits <= 2, "{stats:?}");
    assert!(stats.commits < batches);
    assert!(stats.largest_group_jobs >= batches - 1, "{stats:?}");
}

/// Polls a future on this thread, parking between wake-ups: enough to show
/// that a receiver is awaitable without any async runtime in the store.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

#[test]
fn receivers_can_be_awaited() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let outcomes = block_on(async {
        let first = store.submit(batch(0, 0)).unwrap();
        let second = store.submit(batch(0, 1)).unwrap();
        let mut all = first.await.unwrap().unwrap();
        all.extend(second.await.unwrap().unwrap());
        all
    });
    assert_eq!(outcomes.len(), 2 * EVENTS_PER_BATCH);
    assert_eq!(outcomes.last().unwrap().seq, 2 * EVENTS_PER_BATCH as u64);
}

#[test]
fn inside_a_tokio_runtime_submit_awaits_and_blocking_calls_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (awaited, blocking) = runtime.block_on(async {
        let awaited = store.submit(batch(1, 0)).unwrap().await.unwrap().unwrap();
        // The blocking API parks the runtime's thread instead of panicking
        // like tokio's `blocking_recv` would.
        let blocking = store.append(batch(1, 1)).unwrap();
        store.meta_put("ns", "key", b"v".to_vec()).unwrap();
        (awaited, blocking)
    });
    assert_eq!(awaited.len(), EVENTS_PER_BATCH);
    assert_eq!(blocking[0].seq, EVENTS_PER_BATCH as u64 + 1);
}
