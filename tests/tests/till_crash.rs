//! The box killed mid-sale, for real. Terminals work on cards of their own as fast as they can —
//! sales paid from stored value, a top-up now and then, a refund of the previous sale now and
//! then — and the box is SIGKILLed at a random moment. Restarted, every write that was in flight
//! is retried as a POS retries it: the same order id (and for a sale the same quote token and
//! payment). Every retry must complete, each member's stored value must be the opening balance
//! moved by exactly the receipts, and `tongka ledger verify` must be clean. A write's ledger batch
//! and its order record are two commits, so most kills catch some write between them (its money
//! moved, no record): the test counts those and fails if no round caught one, as it would then
//! prove nothing. A sale is different: its record's redo is logged with its batch, so a sale whose
//! money moved is recorded when the box restarts, before any retry — and so is every sale that
//! was answered, though the box writes sales' records without syncing them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tongka_client::Client;
use tongka_client::types::{
    CardRequest, CheckoutRequest, CreateMember, LineRequest, PairRequest, PaymentRequest,
    RefundRequest, TenderRequest, TopUpRequest,
};
use tongka_e2e::api::{boss_client, first_admin, open_store};
use tongka_e2e::plugins::{TILL_HOOKS, install_standard_points};
use tongka_e2e::{RunningBox, crash};

const TERMINALS: usize = 8;
const ROUNDS: u64 = 4;
/// Each member's opening stored value, in fen: ¥10,000.
const OPENING_FEN: i64 = 1_000_000;

fn start(data: &Path, log: &Path) -> RunningBox {
    RunningBox::start_logged(
        data,
        &[],
        &[
            ("TONGKA_HTTP_REQUESTS_PER_SECOND", Path::new("2000")),
            ("TONGKA_HTTP_REQUEST_BURST", Path::new("2000")),
        ],
        Some(log),
    )
    .unwrap()
}

fn card(terminal: usize) -> String {
    format!("8800-{terminal:04}")
}

/// "12.34" as fen.
fn fen(amount: &str) -> u64 {
    let (yuan, cents) = amount.split_once('.').unwrap();
    yuan.parse::<u64>().unwrap() * 100 + cents.parse::<u64>().unwrap()
}

/// A member's stored value (principal and bonus), in fen.
async fn stored_value(boss: &Client, member: &str) -> i64 {
    let balances = boss.get_member(member).await.unwrap().balances;
    i64::try_from(fen(&balances.stored_value.total.amount)).unwrap()
}

/// A till write as the POS keeps it until it has the receipt, with what it moves the member's
/// stored value by, in fen.
#[derive(Clone, Debug)]
enum Write {
    Sale(CheckoutRequest, i64),
    TopUp(TopUpRequest, i64),
    Refund(RefundRequest, i64),
}

impl Write {
    fn order(&self) -> &str {
        match self {
            Write::Sale(r, _) => &r.order,
            Write::TopUp(r, _) => &r.order,
            Write::Refund(r, _) => &r.order,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Write::Sale(..) => "sale",
            Write::TopUp(..) => "top-up",
            Write::Refund(..) => "refund",
        }
    }

    fn moves(&self) -> i64 {
        match self {
            Write::Sale(_, fen) | Write::TopUp(_, fen) | Write::Refund(_, fen) => *fen,
        }
    }

    /// Sends it; what its receipt says it moved.
    async fn send(&self, till: &Client) -> Result<i64, tongka_client::ClientError> {
        let value = |amount: &str| i64::try_from(fen(amount)).unwrap();
        Ok(match self {
            Write::Sale(r, _) => -value(&till.checkout(r).await?.moved.total.amount),
            Write::TopUp(r, _) => value(&till.top_up(r).await?.moved.principal.amount),
            Write::Refund(r, _) => {
                let moved = till.refund(r).await?.moved;
                value(&moved.principal.amount) + value(&moved.bonus.amount)
            }
        })
    }
}

/// Works `terminal`'s card until the box goes away: mostly sales from stored value, every
/// seventh a ¥50 top-up, every fifth a refund of the sale before. A write is put in `in_flight`
/// just before it is sent and taken out with its receipt, whose movement joins `net`.
async fn work(
    till: Client,
    terminal: usize,
    round: u64,
    mut seed: u64,
    in_flight: Arc<Mutex<Option<Write>>>,
    net: Arc<Mutex<i64>>,
    answered_sales: Arc<Mutex<Vec<String>>>,
) {
    let mut last_sale: Option<(String, i64)> = None;
    for n in 0.. {
        let order = format!("K{round}-{terminal}-{n}");
        let write = if n % 7 == 3 {
            let mut top_up = TopUpRequest::by_card(&order, &card(terminal), "50.00");
            top_up.tenders = vec![TenderRequest {
                kind: "cash".into(),
                amount: "50.00".into(),
            }];
            Write::TopUp(top_up, 5_000)
        } else if n % 5 == 4
            && let Some((original, paid)) = last_sale.take()
        {
            Write::Refund(RefundRequest::of(&order, &original, Vec::new()), paid)
        } else {
            let dice = crash::next(&mut seed);
            let price = format!("{}.{:02}", 1 + dice % 20, dice % 100);
            let mut sale = CheckoutRequest::by_card(
                &order,
                &card(terminal),
                vec![LineRequest::new(1, "TEA", "drinks", "1", &price)],
            );
            let Ok(quote) = till.quote(&sale).await else {
                return;
            };
            sale.quote_token = Some(quote.quote_token);
            let payable = i64::try_from(fen(&quote.payable.amount)).unwrap();
            sale.payment = Some(PaymentRequest {
                stored_value: Some(quote.payable.amount),
                ..PaymentRequest::default()
            });
            last_sale = Some((order.clone(), payable));
            Write::Sale(sale, -payable)
        };
        *in_flight.lock().unwrap() = Some(write.clone());
        let Ok(moved) = write.send(&till).await else {
            return;
        };
        assert_eq!(moved, write.moves(), "{}", write.order());
        *net.lock().unwrap() += moved;
        if let Write::Sale(..) = write {
            answered_sales
                .lock()
                .unwrap()
                .push(write.order().to_owned());
        }
        *in_flight.lock().unwrap() = None;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn till_writes_in_flight_when_the_box_is_killed_complete_once_when_retried() {
    let seed = crash::seed("till crash test");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("box.log");
    first_admin(&data);
    let mut running = start(&data, &log);
    let (client, boss) = boss_client(&running).await;
    let shop = open_store(&boss, "SH-1").await;
    install_standard_points(
        &boss,
        dir.path(),
        &serde_json::json!({"base_points_per_yuan_bp": 10_000}),
        &TILL_HOOKS,
    )
    .await;
    let mut members = Vec::new();
    let mut tokens = Vec::new();
    for terminal in 0..TERMINALS {
        let member = boss
            .create_member(&CreateMember {
                home_store: Some(shop.clone()),
                card: Some(CardRequest {
                    kind: "barcode".into(),
                    number: card(terminal),
                }),
                ..CreateMember::default()
            })
            .await
            .unwrap()
            .id;
        let mut top_up =
            TopUpRequest::by_card(&format!("T-{terminal}"), &card(terminal), "10000.00");
        top_up.store = Some(shop.clone());
        boss.top_up(&top_up).await.unwrap();
        members.push(member);
        let pairing = boss.open_pairing(&shop).await.unwrap();
        let paired = client
            .pair(&PairRequest {
                code: pairing.code,
                name: format!("收银台 {}", terminal + 1),
            })
            .await
            .unwrap();
        tokens.push(paired.token);
    }
    drop((client, boss));

    let net: Vec<Arc<Mutex<i64>>> = (0..TERMINALS).map(|_| Arc::default()).collect();
    let mut caught_between = 0;
    let mut sales_redone = 0;
    let mut caught_kinds = std::collections::BTreeMap::new();
    let mut rng = seed;
    for round in 0..ROUNDS {
        let url = format!("https://{}", running.address);
        let in_flight: Vec<Arc<Mutex<Option<Write>>>> =
            (0..TERMINALS).map(|_| Arc::default()).collect();
        let answered_sales: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut tasks = Vec::new();
        for terminal in 0..TERMINALS {
            // Each terminal its own connection, as separate machines would have.
            let till = Client::connect(&url, &running.fingerprint)
                .await
                .unwrap()
                .with_token(&tokens[terminal]);
            tasks.push(tokio::spawn(work(
                till,
                terminal,
                round,
                crash::next(&mut rng),
                Arc::clone(&in_flight[terminal]),
                Arc::clone(&net[terminal]),
                Arc::clone(&answered_sales),
            )));
        }
        let wait_ms = 300 + crash::next(&mut rng) % 700;
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        running.child.kill().unwrap(); // SIGKILL: no destructor, no final checkpoint.
        running.child.wait().unwrap();
        for task in tasks {
            task.await.unwrap();
        }

        running = start(&data, &log);
        let (client, boss) = boss_client(&running).await;
        // Every sale answered before the kill kept its receipt, synced or not.
        let answered = std::mem::take(&mut *answered_sales.lock().unwrap());
        for order in &answered {
            if let Err(error) = boss.order(order).await {
                panic!(
                    "round {round}: the answered sale {order} has no record (seed {seed}): {error}"
                );
            }
        }
        let mut retried = 0;
        for terminal in 0..TERMINALS {
            let Some(write) = in_flight[terminal].lock().unwrap().take() else {
                continue;
            };
            let before = OPENING_FEN + *net[terminal].lock().unwrap();
            let held = stored_value(&boss, &members[terminal]).await;
            let money_moved = held == before + write.moves();
            let recorded = boss.order(write.order()).await.is_ok();
            if let Write::Sale(..) = write {
                // Recorded from the ledger's log at the restart, or not moved at all.
                assert_eq!(
                    money_moved,
                    recorded,
                    "round {round}: the sale {} in flight (seed {seed})",
                    write.order()
                );
                sales_redone += usize::from(recorded);
            } else if money_moved && !recorded {
                caught_between += 1;
                *caught_kinds.entry(write.kind()).or_insert(0) += 1;
            }
            let till = Client::connect(
                &format!("https://{}", running.address),
                &running.fingerprint,
            )
            .await
            .unwrap()
            .with_token(&tokens[terminal]);
            let moved = write.send(&till).await.unwrap_or_else(|error| {
                panic!(
                    "round {round}: the retry of {write:?} failed (money moved: {money_moved}, \
                     recorded: {recorded}, seed {seed}): {error}"
                )
            });
            assert_eq!(moved, write.moves(), "{}", write.order());
            *net[terminal].lock().unwrap() += moved;
            retried += 1;
        }
        for terminal in 0..TERMINALS {
            let receipts = *net[terminal].lock().unwrap();
            assert_eq!(
                stored_value(&boss, &members[terminal]).await,
                OPENING_FEN + receipts,
                "round {round}: terminal {terminal}'s member holds other than the receipts say \
                 (seed {seed})"
            );
        }
        eprintln!(
            "round {round}: killed {wait_ms} ms in, {} sales answered, {retried} writes retried, \
             {caught_between} caught between ledger and record so far {caught_kinds:?}, \
             {sales_redone} sales in flight recorded from the log",
            answered.len()
        );
        drop((client, boss));
    }
    assert!(
        caught_between + sales_redone > 0,
        "no kill caught a write between its ledger batch and its record (seed {seed}): the test \
         proved nothing"
    );
    running.terminate().unwrap();
    let verified = tongka_e2e::tongka_verify(&data).unwrap();
    assert!(verified.status.success(), "{verified:?}");
}
