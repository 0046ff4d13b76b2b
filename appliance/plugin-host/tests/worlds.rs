//! The worlds besides loyalty schemes, each with a real component from `plugins/`: a notifier
//! that reaches its SMS provider only through the granted hosts, alliance settlement whose
//! statements are checked, and a device driver. A plugin called for a world it is not of fails
//! with a typed error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tongka_plugin_host::manifest::{Manifest, RequestedLimits};
use tongka_plugin_host::{
    Asset, CallError, Capability, Date, DeviceEvent, Host, HostOptions, MemoryKv, Money, Outgoing,
    SendError, SettlementEntry, Statement, UsbDevice, World,
};

mod common;

use common::component;

fn host() -> Host {
    Host::new(HostOptions::default(), Arc::new(MemoryKv::default())).unwrap()
}

/// An SMS provider on loopback: answers each POST with `status` and `body`, and keeps what it
/// was sent.
fn provider(status: u16, body: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut request = vec![0; length];
            let _ = reader.read_exact(&mut request);
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&request).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, received)
}

fn notifier(hosts: Vec<String>, capabilities: Vec<Capability>) -> Vec<u8> {
    let mut manifest = Manifest::new("sms", "1.0.0", World::Notifier);
    manifest.capabilities = capabilities;
    manifest.http_hosts = hosts;
    manifest.limits = RequestedLimits {
        deadline_ms: Some(2_000),
        ..RequestedLimits::default()
    };
    tongka_plugin_host::manifest::pack(&component("example_notifier"), &manifest).unwrap()
}

fn message(phone: &str) -> Outgoing {
    Outgoing {
        phone: phone.into(),
        text: "您的积分已到账 \"100\"".into(),
    }
}

#[test]
fn a_notifier_reaches_its_provider_only_through_granted_hosts() {
    let host = host();
    let (port, received) = provider(200, r#"{"id":"msg-42"}"#);
    let granted_host = format!("http://127.0.0.1:{port}");
    let config = format!(r#"{{"endpoint":"http://127.0.0.1:{port}/send","sign":"通卡"}}"#);
    let packed = notifier(vec![granted_host.clone()], vec![Capability::OutboundHttp]);

    host.load(&packed, &[Capability::OutboundHttp], &config)
        .unwrap();
    let reply = host.send_message("sms", &message("13800138000")).unwrap();
    assert_eq!(reply.value, Ok("msg-42".to_owned()));
    let sent = received.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![r#"{"phone":"13800138000","text":"【通卡】您的积分已到账 \"100\""}"#.to_owned()]
    );

    // A bad number never leaves the box.
    let reply = host.send_message("sms", &message("12345")).unwrap();
    assert!(matches!(reply.value, Err(SendError::BadRecipient(_))));
    assert_eq!(received.lock().unwrap().len(), 1);

    // The merchant did not grant outbound HTTP: the call fails, naming the capability.
    host.load(&packed, &[], &config).unwrap();
    let error = host
        .send_message("sms", &message("13800138000"))
        .unwrap_err();
    assert!(
        matches!(&error, CallError::CapabilityDenied { plugin, capability: "outbound-http", .. } if plugin == "sms"),
        "{error}"
    );

    // Granted, but configured to reach a host the manifest does not declare: refused by the host.
    let (other_port, other_received) = provider(200, r#"{"id":"stolen"}"#);
    let elsewhere = format!(r#"{{"endpoint":"http://127.0.0.1:{other_port}/send"}}"#);
    host.load(&packed, &[Capability::OutboundHttp], &elsewhere)
        .unwrap();
    let reply = host.send_message("sms", &message("13800138000")).unwrap();
    assert!(
        matches!(&reply.value, Err(SendError::Misconfigured(why)) if why.contains("127.0.0.1")),
        "{:?}",
        reply.value
    );
    assert!(other_received.lock().unwrap().is_empty());
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[test]
fn a_provider_failure_is_a_typed_answer() {
    let host = host();
    let (port, _) = provider(503, "busy");
    let packed = notifier(
        vec![format!("http://127.0.0.1:{port}")],
        vec![Capability::OutboundHttp],
    );
    let config = format!(r#"{{"endpoint":"http://127.0.0.1:{port}/send"}}"#);
    host.load(&packed, &[Capability::OutboundHttp], &config)
        .unwrap();
    let reply = host.send_message("sms", &message("13800138000")).unwrap();
    assert!(
        matches!(&reply.value, Err(SendError::Provider(why)) if why.contains("503")),
        "{:?}",
        reply.value
    );
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

fn entry(member_merchant: &str, serving_merchant: &str, fen: i64, day: u8) -> SettlementEntry {
    SettlementEntry {
        member_merchant: member_merchant.into(),
        serving_merchant: serving_merchant.into(),
        amount: Money {
            asset: Asset::Cny,
            minor_units: fen,
        },
        on: date(2026, 11, day),
    }
}

#[test]
fn settlement_nets_each_pair_of_merchants() {
    let host = host();
    let packed = tongka_plugin_host::manifest::pack(
        &component("example_settlement"),
        &Manifest::new("alliance", "1.0.0", World::Settlement),
    )
    .unwrap();
    host.load(&packed, &[], "{}").unwrap();
    let entries = vec![
        entry("tea", "bakery", 10_000, 3),
        entry("bakery", "tea", 2_500, 9),
        entry("tea", "books", 700, 12),
        // Outside the period: not counted.
        entry("tea", "books", 99_999, 1),
        entry("books", "books", 100, 12),
    ];
    let reply = host
        .statements(
            "alliance",
            (date(2026, 11, 2), date(2026, 11, 30)),
            &entries,
        )
        .unwrap();
    let cny = |minor_units| Money {
        asset: Asset::Cny,
        minor_units,
    };
    assert_eq!(
        reply.value,
        vec![
            Statement {
                debtor: "tea".into(),
                creditor: "bakery".into(),
                amount: cny(7_500),
            },
            Statement {
                debtor: "tea".into(),
                creditor: "books".into(),
                amount: cny(700),
            },
        ]
    );
    assert!(reply.fuel_used > 0);

    let error = host
        .statements("alliance", (date(2026, 12, 1), date(2026, 11, 1)), &entries)
        .unwrap_err();
    assert!(matches!(error, CallError::Declined { .. }), "{error}");

    // A settlement plugin is not a driver.
    let error = host.driver_decode("alliance", b"x").unwrap_err();
    assert!(
        matches!(
            error,
            CallError::WrongWorld {
                world: "settlement",
                hook: "decode",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_device_driver_matches_decodes_and_prints() {
    let host = host();
    let packed = tongka_plugin_host::manifest::pack(
        &component("example_driver"),
        &Manifest::new("scanner", "1.0.0", World::DeviceDriver),
    )
    .unwrap();
    host.load(&packed, &[], "{}").unwrap();
    let device = |vendor_id, class| UsbDevice {
        vendor_id,
        product_id: 1,
        class,
        product: Some("Scanner".into()),
    };
    assert!(
        host.driver_matches("scanner", &device(0x0c2e, 0))
            .unwrap()
            .value
    );
    assert!(
        !host
            .driver_matches("scanner", &device(0x1234, 8))
            .unwrap()
            .value
    );
    assert_eq!(
        host.driver_decode("scanner", b"6901234567892\r\nVIP-0001\r\n")
            .unwrap()
            .value,
        Ok(vec![
            DeviceEvent::CardRead("6901234567892".into()),
            DeviceEvent::CardRead("VIP-0001".into()),
        ])
    );
    assert!(
        host.driver_decode("scanner", &[0xff, 0xfe])
            .unwrap()
            .value
            .is_err()
    );
    let receipt = host
        .driver_encode_receipt("scanner", &["通卡 ¥12.30".into()])
        .unwrap()
        .value
        .unwrap();
    let mut expected = vec![0x1b, b'@'];
    expected.extend_from_slice("通卡 ¥12.30\n".as_bytes());
    expected.extend_from_slice(&[0x1d, b'V', 0]);
    assert_eq!(receipt, expected);
}

#[test]
fn a_slow_provider_is_cut_off_at_the_call_deadline() {
    // A provider that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let _held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(30));
    });
    let host = host();
    let mut manifest = Manifest::new("slow-sms", "1.0.0", World::Notifier);
    manifest.capabilities = vec![Capability::OutboundHttp];
    manifest.http_hosts = vec![format!("http://127.0.0.1:{port}")];
    manifest.limits.deadline_ms = Some(300);
    let packed =
        tongka_plugin_host::manifest::pack(&component("example_notifier"), &manifest).unwrap();
    let config = format!(r#"{{"endpoint":"http://127.0.0.1:{port}/send"}}"#);
    host.load(&packed, &[Capability::OutboundHttp], &config)
        .unwrap();
    let started = std::time::Instant::now();
    let error = host
        .send_message("slow-sms", &message("13800138000"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            CallError::Deadline {
                deadline_ms: 300,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
}
