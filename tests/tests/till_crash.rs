//! The box killed mid-sale, for real. Terminals sell on cards of their own, paid from stored
//! value, as fast as they can; the box is SIGKILLed at a random moment. Restarted, every sale that
//! was in flight is retried as a POS retries it: the same order id, quote token and payment.
//! Every retry must complete, each member's stored value must be the opening balance less every
//! receipt, and `tongka ledger verify` must be clean. A sale's ledger batch and its order record
//! are two commits, so most kills catch some sale between them (its money moved, no record): the
//! test counts those and fails if no round caught one, as it would then prove nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tongka_client::Client;
use tongka_client::types::{
    CardRequest, CheckoutRequest, CreateMember, LineRequest, PairRequest, PaymentRequest,
    TopUpRequest,
};
use tongka_e2e::api::{boss_client, first_admin, open_store};
use tongka_e2e::plugins::{TILL_HOOKS, install_standard_points};
use tongka_e2e::{RunningBox, crash};

const TERMINALS: usize = 8;
const ROUNDS: u64 = 4;
/// Each member's opening stored value, in fen: ¥10,000.
const OPENING_FEN: u64 = 1_000_000;

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
async fn stored_value(boss: &Client, member: &str) -> u64 {
    let balances = boss.get_member(member).await.unwrap().balances;
    fen(&balances.stored_value.total.amount)
}

/// Sells on `terminal`'s card until the box goes away. A sale is put in `in_flight` just before
/// its commit is sent and taken out with its receipt (whose value joins `paid`).
async fn sell(
    till: Client,
    terminal: usize,
    round: u64,
    mut seed: u64,
    in_flight: Arc<Mutex<Option<CheckoutRequest>>>,
    paid: Arc<Mutex<u64>>,
) {
    for n in 0.. {
        let dice = crash::next(&mut seed);
        let price = format!("{}.{:02}", 1 + dice % 20, dice % 100);
        let mut sale = CheckoutRequest::by_card(
            &format!("K{round}-{terminal}-{n}"),
            &card(terminal),
            vec![LineRequest::new(1, "TEA", "drinks", "1", &price)],
        );
        let Ok(quote) = till.quote(&sale).await else {
            return;
        };
        sale.quote_token = Some(quote.quote_token);
        sale.payment = Some(PaymentRequest {
            stored_value: Some(quote.payable.amount),
            ..PaymentRequest::default()
        });
        *in_flight.lock().unwrap() = Some(sale.clone());
        let Ok(receipt) = till.checkout(&sale).await else {
            return;
        };
        *paid.lock().unwrap() += fen(&receipt.moved.total.amount);
        *in_flight.lock().unwrap() = None;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_in_flight_when_the_box_is_killed_complete_once_when_retried() {
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

    let paid: Vec<Arc<Mutex<u64>>> = (0..TERMINALS).map(|_| Arc::default()).collect();
    let mut caught_between = 0;
    let mut rng = seed;
    for round in 0..ROUNDS {
        let url = format!("https://{}", running.address);
        let in_flight: Vec<Arc<Mutex<Option<CheckoutRequest>>>> =
            (0..TERMINALS).map(|_| Arc::default()).collect();
        let mut tasks = Vec::new();
        for terminal in 0..TERMINALS {
            // Each terminal its own connection, as separate machines would have.
            let till = Client::connect(&url, &running.fingerprint)
                .await
                .unwrap()
                .with_token(&tokens[terminal]);
            tasks.push(tokio::spawn(sell(
                till,
                terminal,
                round,
                crash::next(&mut rng),
                Arc::clone(&in_flight[terminal]),
                Arc::clone(&paid[terminal]),
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
        let mut retried = 0;
        for terminal in 0..TERMINALS {
            let Some(sale) = in_flight[terminal].lock().unwrap().take() else {
                continue;
            };
            let receipts: u64 = *paid[terminal].lock().unwrap();
            let held = stored_value(&boss, &members[terminal]).await;
            let payable = fen(sale
                .payment
                .as_ref()
                .unwrap()
                .stored_value
                .as_ref()
                .unwrap());
            let money_moved = held + receipts + payable == OPENING_FEN;
            let recorded = boss.order(&sale.order).await.is_ok();
            if money_moved && !recorded {
                caught_between += 1;
            }
            let till = Client::connect(
                &format!("https://{}", running.address),
                &running.fingerprint,
            )
            .await
            .unwrap()
            .with_token(&tokens[terminal]);
            let receipt = till.checkout(&sale).await.unwrap_or_else(|error| {
                panic!(
                    "round {round}: the retry of {} failed (money moved: {money_moved}, \
                     recorded: {recorded}, seed {seed}): {error}",
                    sale.order
                )
            });
            assert_eq!(fen(&receipt.moved.total.amount), payable);
            *paid[terminal].lock().unwrap() += payable;
            retried += 1;
        }
        for terminal in 0..TERMINALS {
            let receipts: u64 = *paid[terminal].lock().unwrap();
            assert_eq!(
                stored_value(&boss, &members[terminal]).await + receipts,
                OPENING_FEN,
                "round {round}: terminal {terminal}'s member paid other than the receipts say \
                 (seed {seed})"
            );
        }
        eprintln!(
            "round {round}: killed {wait_ms} ms in, {retried} sales retried, \
             {caught_between} caught between ledger and record so far"
        );
        drop((client, boss));
    }
    assert!(
        caught_between > 0,
        "no kill caught a sale between its ledger batch and its record (seed {seed}): the test \
         proved nothing"
    );
    running.terminate().unwrap();
    let verified = tongka_e2e::tongka_verify(&data).unwrap();
    assert!(verified.status.success(), "{verified:?}");
}
