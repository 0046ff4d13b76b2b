//! Till writes in flight: one at a time for each member, and the sales answered before their
//! record reached the directory.
//!
//! A sale is answered once its ledger batch is durable: the batch's note holds the whole record
//! (`Changes` in `till.rs`), so the record's own directory write follows in the background. Until
//! it is committed, the sale's order is answered from here, and the member's turn is not over:
//! the next till operation for her waits for it, so it reads her statistics and tier with the
//! sale counted. A member's operations are minutes apart at a real till; only two terminals
//! serving one card at once ever wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::member::MemberId;
use crate::merchant::MerchantId;
use crate::till::Order;

/// A gate is a semaphore of one permit, never closed: a turn holds the permit, and the next
/// waits for it in the order it came.
type Gates = Arc<Mutex<HashMap<MemberId, Arc<tokio::sync::Semaphore>>>>;
type Answered = Arc<AnsweredSales>;

#[derive(Debug, Default)]
struct AnsweredSales {
    orders: Mutex<HashMap<(MerchantId, String), Order>>,
    /// Told each time one is recorded.
    recorded: tokio::sync::Notify,
}

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// A gate for each member with an operation under way or waiting; removed by the last.
    gates: Gates,
    answered: Answered,
}

/// A member's turn at the till: the member's other operations wait until it is dropped.
#[derive(Debug)]
pub(crate) struct MemberTurn {
    member: MemberId,
    gates: Gates,
    gate: Arc<tokio::sync::Semaphore>,
    /// Whether the gate's permit is held; not while the turn is still waited for.
    held: bool,
}

/// A sale answered before its record was written: its order is answered from memory until the
/// value is dropped, once the directory has it.
#[derive(Debug)]
pub(crate) struct AnsweredSale {
    key: (MerchantId, String),
    answered: Answered,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is one map operation: whole or not done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl InFlight {
    /// Waits until no other operation is under way for `member`, then holds her turn. A wait
    /// given up (its request dropped) is a turn dropped before it was held: it leaves the gate
    /// as it found it.
    pub(crate) async fn turn(&self, member: MemberId) -> MemberTurn {
        let gate = Arc::clone(
            lock(&self.gates)
                .entry(member)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(1))),
        );
        let mut turn = MemberTurn {
            member,
            gates: Arc::clone(&self.gates),
            gate,
            held: false,
        };
        // Fails only on a closed semaphore, and gates are never closed.
        if let Ok(permit) = turn.gate.acquire().await {
            // Given back by the turn's drop, which also decides whether the gate goes.
            permit.forget();
            turn.held = true;
        }
        turn
    }

    /// Whether an operation of `member` is under way or waiting.
    pub(crate) fn busy(&self, member: MemberId) -> bool {
        lock(&self.gates).contains_key(&member)
    }

    /// Waits until every operation under way for `member` is over, her sales' records included.
    pub(crate) async fn settled(&self, member: MemberId) {
        drop(self.turn(member).await);
    }

    /// Keeps `order`, answered, until the returned value is dropped.
    pub(crate) fn answer(&self, order: &Order) -> AnsweredSale {
        let key = (order.merchant, order.id.clone());
        lock(&self.answered.orders).insert(key.clone(), order.clone());
        AnsweredSale {
            key,
            answered: Arc::clone(&self.answered),
        }
    }

    /// The order `id` of `merchant` if it was answered and its record is not yet written.
    pub(crate) fn answered(&self, merchant: MerchantId, id: &str) -> Option<Order> {
        lock(&self.answered.orders)
            .get(&(merchant, id.to_owned()))
            .cloned()
    }

    /// Waits until every sale answered so far has its record written (or failed to): for a box
    /// stopping, or a caller about to close the files.
    pub(crate) async fn drained(&self) {
        loop {
            let recorded = self.answered.recorded.notified();
            tokio::pin!(recorded);
            // Registered before looking, so a record written in between still wakes it.
            recorded.as_mut().enable();
            if lock(&self.answered.orders).is_empty() {
                return;
            }
            recorded.await;
        }
    }
}

impl Drop for MemberTurn {
    fn drop(&mut self) {
        let mut gates = lock(&self.gates);
        if self.held {
            self.gate.add_permits(1);
        }
        // Waiters clone the gate under the map's lock, which is held: a count of two is the
        // map's and this turn's, and nobody else is waiting.
        if Arc::strong_count(&self.gate) == 2 {
            gates.remove(&self.member);
        }
    }
}

impl Drop for AnsweredSale {
    fn drop(&mut self) {
        lock(&self.answered.orders).remove(&self.key);
        self.answered.recorded.notify_waiters();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    use rust_decimal::Decimal;

    use crate::UnixMillis;
    use crate::directory::{Directory, SessionOptions};
    use crate::member::{NewMember, NewTier, Thresholds};
    use crate::members::Members;
    use crate::store::{Date, NewStore, StoreKind};
    use crate::till::{
        CheckoutRequest, Effect, Paid, Party, Payment, Scheme, SchemeContext, SchemeFailure,
        Tender, TenderKind, Till, TillActor, TillLine, TillOptions,
    };

    const NOW: UnixMillis = UnixMillis(1_795_000_000_000);

    /// A point a sale, so that a sale is a ledger batch; the tier moves by spend alone.
    struct Plain;

    impl Scheme for Plain {
        fn quote_checkout(
            &self,
            _: &SchemeContext<'_>,
            _: &[TillLine],
        ) -> Result<Vec<Effect>, SchemeFailure> {
            Ok(vec![Effect::EarnPoints {
                to: Party::Member,
                points: 1,
                reason: "消费积分".into(),
            }])
        }
        fn commit_checkout(
            &self,
            _: &SchemeContext<'_>,
            _: &[TillLine],
            _: Paid,
            accepted: &[Effect],
        ) -> Result<Vec<Effect>, SchemeFailure> {
            Ok(accepted.to_vec())
        }
        fn top_up(&self, _: &SchemeContext<'_>, _: u64) -> Result<Vec<Effect>, SchemeFailure> {
            Ok(Vec::new())
        }
        fn refund(
            &self,
            _: &SchemeContext<'_>,
            _: &str,
            _: &[TillLine],
        ) -> Result<Vec<Effect>, SchemeFailure> {
            Ok(Vec::new())
        }
        fn rules_version(&self) -> String {
            "plain".into()
        }
    }

    fn sale(order: &str, member: MemberId, fen: u64) -> CheckoutRequest {
        CheckoutRequest {
            order: order.into(),
            member,
            lines: vec![TillLine {
                line: 1,
                sku: "WATCH".into(),
                category: String::new(),
                quantity_milli: 1_000,
                unit_price_fen: fen,
                promotional: false,
                no_points: false,
                no_discount: false,
            }],
        }
    }

    /// Whether `future` is still waiting after `ms` milliseconds.
    async fn still_waiting<F: std::future::Future>(future: std::pin::Pin<&mut F>, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), future)
            .await
            .is_err()
    }

    /// What `future` gives, which must come within ten seconds; else the test fails with `what`.
    async fn done<F: std::future::Future>(future: F, what: &str) -> F::Output {
        tokio::time::timeout(Duration::from_secs(10), future)
            .await
            .unwrap_or_else(|_| panic!("{what}"))
    }

    /// The writer of `directory` stuck in a write until the returned sender is dropped: every
    /// write queued after it waits.
    fn stall(directory: &Directory) -> std::sync::mpsc::Sender<()> {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let stalled = directory
            .submit_unsynced(move |_| {
                let _ = released.recv();
                Ok(())
            })
            .unwrap();
        tokio::spawn(stalled);
        release
    }

    /// A sale is answered once its batch is in the ledger's log, before its record reaches the
    /// directory: its order reads back from memory, its receipt already names the tier it
    /// reached, and the member's next quote waits for the record, then counts it. What the
    /// directory then holds is what the receipt said.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sale_is_answered_before_its_record_and_her_next_quote_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let directory = Arc::new(
            Directory::open(
                &dir.path().join("directory.redb"),
                SessionOptions::default(),
            )
            .unwrap(),
        );
        let ledger =
            tongka_ledger::Ledger::open(&dir.path().join("ledger.redb"), Default::default())
                .unwrap();
        let boss = directory
            .create_staff(
                directory.first_merchant(),
                &crate::directory::tests::admin(),
                NOW,
            )
            .unwrap()
            .unwrap();
        let store = directory
            .create_store(
                &boss,
                &NewStore {
                    code: "A".into(),
                    name: "A 店".into(),
                    kind: StoreKind::Direct,
                    opened_on: Date::parse("2024-01-01").unwrap(),
                    time_zone: "Asia/Shanghai".into(),
                },
                NOW,
            )
            .unwrap()
            .unwrap();
        let book = Members::open(Arc::clone(&directory), ledger).await.unwrap();
        let tier = |name: &str, rank, spend| NewTier {
            name: name.into(),
            rank,
            discount_rate: Decimal::ONE,
            points_rate: Decimal::ONE,
            thresholds: Thresholds {
                total_spend_fen: spend,
                ..Thresholds::default()
            },
            upgrade_points: None,
        };
        let silver = book
            .put_tier(&boss, None, &tier("银卡", 1, None))
            .unwrap()
            .unwrap();
        let gold = book
            .put_tier(&boss, None, &tier("金卡", 2, Some(50_000)))
            .unwrap()
            .unwrap();
        let member = book
            .create(&boss, &NewMember::default(), NOW)
            .await
            .unwrap()
            .unwrap()
            .member
            .id;
        let till = Till::new(book.clone(), TillOptions::default());
        let actor = TillActor {
            merchant: boss.merchant,
            store: store.id,
            staff: Some(boss.id),
            terminal: None,
        };
        let in_cash = |fen| Payment {
            tenders: vec![Tender {
                kind: TenderKind::Cash,
                amount_fen: fen,
            }],
            ..Payment::default()
        };

        let first = sale("S-1", member, 60_000);
        let quote = till
            .quote(&actor, &Plain, &first, NOW)
            .await
            .unwrap()
            .unwrap();
        let release = stall(&directory);
        let receipt = done(
            till.checkout(&actor, &Plain, &first, &in_cash(60_000), &quote.token, NOW),
            "the sale waited for its record",
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(receipt.tier_change, Some(gold.id), "the receipt's tier");
        // Not in the directory yet: she is still silver there, and the order is answered from
        // memory.
        let stored = book.member_record(member).unwrap().unwrap();
        assert_eq!(stored.tier, Some(silver.id));
        assert_eq!(
            till.order(boss.merchant, "S-1").unwrap(),
            Some(receipt.clone())
        );

        // Her next quote waits for the record.
        let second = sale("S-2", member, 1_000);
        let next = till.quote(&actor, &Plain, &second, NOW);
        tokio::pin!(next);
        assert!(
            still_waiting(next.as_mut(), 200).await,
            "her next quote did not wait for her last sale's record"
        );
        drop(release);
        let next = done(next, "her next quote never came")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.payable_fen, 1_000);
        till.settled(member).await;
        // The directory holds what the receipt said.
        assert_eq!(till.order(boss.merchant, "S-1").unwrap(), Some(receipt));
        assert_eq!(
            book.member_record(member).unwrap().unwrap().tier,
            Some(gold.id)
        );
        assert_eq!(till.stats(member).unwrap().visits, 1);
        assert!(till.in_flight.answered(boss.merchant, "S-1").is_none());

        // A box stopping waits for the records of the sales it answered.
        let third = sale("S-3", member, 1_000);
        let quote = till
            .quote(&actor, &Plain, &third, NOW)
            .await
            .unwrap()
            .unwrap();
        let release = stall(&directory);
        till.checkout(&actor, &Plain, &third, &in_cash(1_000), &quote.token, NOW)
            .await
            .unwrap()
            .unwrap();
        let drained = till.drained();
        tokio::pin!(drained);
        assert!(
            still_waiting(drained.as_mut(), 200).await,
            "drained with a record still to write"
        );
        drop(release);
        done(drained, "never drained").await;
        assert!(till.in_flight.answered(boss.merchant, "S-3").is_none());
    }

    #[tokio::test]
    async fn a_member_s_next_operation_waits_for_her_turn_and_others_do_not() {
        let in_flight = InFlight::default();
        let (her, other) = (MemberId(1), MemberId(2));
        let turn = in_flight.turn(her).await;
        assert!(in_flight.busy(her) && !in_flight.busy(other));
        // Another member is served at once.
        done(in_flight.settled(other), "another member waited").await;
        // She waits while the turn is held.
        let waiting = in_flight.settled(her);
        tokio::pin!(waiting);
        assert!(
            still_waiting(waiting.as_mut(), 50).await,
            "her next operation did not wait"
        );
        drop(turn);
        done(waiting, "her next operation never started").await;
        // The last one out removed the gate.
        assert!(lock(&in_flight.gates).is_empty());
        assert!(!in_flight.busy(her));
    }

    /// A request dropped while it waited for her turn (the POS hung up) leaves nothing behind:
    /// she is not busy, and her next turn comes at once.
    #[tokio::test]
    async fn a_wait_given_up_leaves_her_gate_as_it_found_it() {
        let in_flight = InFlight::default();
        let her = MemberId(1);
        let turn = in_flight.turn(her).await;
        {
            let waiting = in_flight.turn(her);
            tokio::pin!(waiting);
            assert!(still_waiting(waiting.as_mut(), 20).await);
            // Her turn ends while the waiter is queued; the waiter is dropped before it runs.
            drop(turn);
        }
        assert!(!in_flight.busy(her), "a given-up wait left her busy");
        let next = done(
            in_flight.turn(her),
            "her next turn waited for a wait given up",
        )
        .await;
        drop(next);
        assert!(lock(&in_flight.gates).is_empty());

        // Given up with her turn still held: the holder's drop then removes the gate.
        let turn = in_flight.turn(her).await;
        {
            let waiting = in_flight.turn(her);
            tokio::pin!(waiting);
            assert!(still_waiting(waiting.as_mut(), 20).await);
        }
        assert!(in_flight.busy(her));
        drop(turn);
        assert!(!in_flight.busy(her));
    }
}
