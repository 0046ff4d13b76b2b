//! `tongka-client`'s generated methods against the real box over pinned HTTPS, one of each
//! kind the document has: JSON in and out, path segments that need escaping, a query, a CSV
//! body and a CSV answer, an empty answer, and refusals as typed problems.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tongka_client::ClientError;
use tongka_client::types::{
    CardRequest, CreateMember, CreateStore, ImportMembersQuery, LoginRequest, PairRequest,
    ReadAuditQuery, SearchMembersQuery, UpdateMember,
};
use tongka_e2e::api::{boss_client, first_admin, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_operation_through_the_generated_client() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);
    let running = start(&data, &dir.path().join("box.log"));
    let (client, boss) = boss_client(&running).await;

    assert_eq!(client.health().await.unwrap().status, "ok");
    let wrong = client
        .sign_in(&LoginRequest {
            username: "boss".into(),
            password: "not it".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Some("login_failed"), "{wrong}");
    assert_eq!(boss.current_session().await.unwrap().username, "boss");

    let store = boss
        .create_store(&CreateStore {
            code: "SH-1".into(),
            name: "静安店".into(),
            kind: "direct".into(),
            opened_on: "2024-05-01".into(),
            time_zone: "Asia/Shanghai".into(),
        })
        .await
        .unwrap();
    assert_eq!(boss.get_store(&store.id).await.unwrap().name, "静安店");
    assert_eq!(boss.list_stores().await.unwrap().len(), 1);

    let member = boss
        .create_member(&CreateMember {
            name: Some("王芳".into()),
            phone: Some("13800138000".into()),
            home_store: Some(store.id.clone()),
            card: Some(CardRequest {
                kind: "barcode".into(),
                number: "8800-0001".into(),
            }),
            ..CreateMember::default()
        })
        .await
        .unwrap();
    let found = boss.find_card("8800-0001").await.unwrap();
    assert_eq!(found.member.id, member.id);
    // A path parameter stays one segment: `../stores` is escaped, not followed.
    let escaped = boss.get_member("../../stores").await.unwrap_err();
    assert_eq!(escaped.code(), Some("unknown_member"), "{escaped}");
    let changed = boss
        .update_member(
            &member.id,
            &UpdateMember {
                notes: Some("喜欢无糖".into()),
                ..UpdateMember::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.notes.as_deref(), Some("喜欢无糖"));

    // A query, its `+` and space escaped: a phone typed with spaces is normalised by the box.
    let page = boss
        .search_members(&SearchMembersQuery {
            phone: Some("138 0013 8000".into()),
            ..SearchMembersQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.members.len(), 1);
    assert_eq!(page.members[0].id, member.id);
    let none = boss
        .search_members(&SearchMembersQuery {
            name: Some("李 & 赵".into()),
            ..SearchMembersQuery::default()
        })
        .await
        .unwrap();
    assert!(none.members.is_empty());

    // CSV out, then CSV in (a dry run writes nothing).
    let csv = boss.export_members_csv().await.unwrap();
    assert!(csv.contains("13800138000"), "{csv}");
    let report = boss
        .import_members(
            &ImportMembersQuery {
                dry_run: Some(true),
            },
            "name,phone\n李雷,13900139000\n",
        )
        .await
        .unwrap();
    assert_eq!((report.rows, report.applied), (1, false), "{report:?}");
    let page = boss
        .search_members(&SearchMembersQuery {
            phone: Some("13900139000".into()),
            ..SearchMembersQuery::default()
        })
        .await
        .unwrap();
    assert!(page.members.is_empty(), "a dry run imported");

    // A terminal paired through the generated calls, then revoked (an empty answer).
    let pairing = boss.open_pairing(&store.id).await.unwrap();
    let paired = client
        .pair(&PairRequest {
            code: pairing.code.clone(),
            name: "收银台 1".into(),
        })
        .await
        .unwrap();
    let till = client.with_token(&paired.token);
    assert_eq!(till.current_terminal().await.unwrap().store, store.id);
    boss.revoke_terminal(&paired.terminal.id).await.unwrap();
    let revoked = till.current_terminal().await.unwrap_err();
    assert!(
        matches!(&revoked, ClientError::Problem(p) if p.status == 401),
        "{revoked}"
    );

    let audit = boss
        .read_audit(&ReadAuditQuery {
            limit: Some(2),
            before: None,
        })
        .await
        .unwrap();
    assert_eq!(audit.entries.len(), 2);
    assert!(audit.next.is_some());

    boss.sign_out().await.unwrap();
    let gone = boss.current_session().await.unwrap_err();
    assert!(
        matches!(&gone, ClientError::Problem(p) if p.status == 401),
        "{gone}"
    );
}
