//! The member book against a real directory file and a real ledger: accounts opened with the
//! member, uniqueness, search, cards, merge through the ledger, erasure, import.

mod common;

use tongka_domain::accounts::MemberAccount;
use tongka_domain::{
    CardStatus, MemberError, MemberId, MemberQuery, MemberStatus, Members, NewCard, NewMember,
    NewStaff, NewStore, ProfileEntry, Role, RowProblem, Scope, Staff, StoreKind, UnixMillis,
};

const NOW: UnixMillis = UnixMillis(1_795_000_000_000);

struct Book {
    members: Members,
    boss: Staff,
    _dir: tempfile::TempDir,
}

async fn book() -> Book {
    let dir = tempfile::tempdir().unwrap();
    let directory = common::directory_in(dir.path());
    let ledger = common::ledger_in(dir.path());
    let boss = common::boss(&directory, NOW);
    let members = Members::open(directory, ledger).await.unwrap();
    Book {
        members,
        boss,
        _dir: dir,
    }
}

fn member(name: &str, phone: &str, card: Option<&str>) -> NewMember {
    NewMember {
        profile: ProfileEntry {
            name: Some(name.into()),
            phone: Some(phone.into()),
            tags: vec!["VIP".into()],
            ..ProfileEntry::default()
        },
        card: card.map(|number| NewCard {
            number: number.into(),
            kind: "barcode".into(),
        }),
        ..NewMember::default()
    }
}

#[tokio::test]
async fn a_member_gets_accounts_a_unique_phone_and_cards_that_find_them() {
    let book = book().await;
    let boss = &book.boss;
    let li = book
        .members
        .create(boss, &member("李娜", "138 0013 8000", Some("c-1001")), NOW)
        .await
        .unwrap()
        .unwrap();
    for account in MemberAccount::ALL {
        let opened = book
            .members
            .ledger()
            .account(account.id(li.member.id))
            .unwrap();
        assert!(opened.is_some(), "{account:?} not opened");
    }
    assert_eq!(li.member.cards[0].number, "C-1001");

    let again = book
        .members
        .create(boss, &member("王五", "+86 13800138000", None), NOW)
        .await
        .unwrap();
    assert_eq!(again.unwrap_err(), MemberError::PhoneTaken);
    let card_taken = book
        .members
        .create(boss, &member("王五", "13900139000", Some("C-1001")), NOW)
        .await
        .unwrap();
    assert!(matches!(card_taken, Err(MemberError::CardTaken(_))));

    let (found, card) = book.members.find_by_card(boss, "c-1001").unwrap().unwrap();
    assert_eq!(found.member.id, li.member.id);
    assert_eq!(card.status, CardStatus::Active);

    // Lost, then reissued: the old number stays with her, marked replaced.
    book.members
        .report_lost(boss, li.member.id, "C-1001", NOW)
        .unwrap()
        .unwrap();
    let (_, lost) = book.members.find_by_card(boss, "C-1001").unwrap().unwrap();
    assert_eq!(lost.status, CardStatus::Lost);
    let reissued = book
        .members
        .reissue(
            boss,
            li.member.id,
            "C-1001",
            &NewCard {
                number: "C-2002".into(),
                kind: "ic".into(),
            },
            NOW,
        )
        .unwrap()
        .unwrap();
    let statuses: Vec<_> = reissued.member.cards.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [CardStatus::Replaced, CardStatus::Active]);
    let (_, new_card) = book.members.find_by_card(boss, "C-2002").unwrap().unwrap();
    assert_eq!(new_card.history[0].note.as_deref(), Some("C-1001"));
}

#[tokio::test]
async fn search_pages_by_name_tag_and_store() {
    let book = book().await;
    let boss = &book.boss;
    let store = book
        .members
        .directory()
        .create_store(
            boss,
            &NewStore {
                code: "SH-1".into(),
                name: "一店".into(),
                kind: StoreKind::Direct,
                opened_on: tongka_domain::Date::parse("2020-01-01").unwrap(),
                time_zone: "Asia/Shanghai".into(),
            },
            NOW,
        )
        .unwrap()
        .unwrap();
    for i in 0..7u64 {
        let mut new = member(&format!("张{i}"), &format!("1390000000{i}"), None);
        if i % 2 == 0 {
            new.home_store = Some(store.id);
        }
        book.members
            .create(boss, &new, NOW.plus_ms(i))
            .await
            .unwrap()
            .unwrap();
    }
    book.members
        .create(boss, &member("李四", "13700000000", None), NOW.plus_ms(9))
        .await
        .unwrap()
        .unwrap();

    let mut query = MemberQuery {
        name: Some("张".into()),
        limit: 3,
        ..MemberQuery::default()
    };
    let mut names = Vec::new();
    loop {
        let page = book.members.search(boss, &query).unwrap().unwrap();
        assert!(page.members.len() <= 3);
        names.extend(page.members.iter().map(|m| m.profile.name.clone().unwrap()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(names, ["张0", "张1", "张2", "张3", "张4", "张5", "张6"]);

    let by_store = book
        .members
        .search(
            boss,
            &MemberQuery {
                store: Some(store.id),
                limit: 100,
                ..MemberQuery::default()
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(by_store.members.len(), 4);
    let by_phone = book
        .members
        .search(
            boss,
            &MemberQuery {
                phone: Some("+86 137-0000-0000".into()),
                limit: 10,
                ..MemberQuery::default()
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(by_phone.members[0].profile.name.as_deref(), Some("李四"));
}

#[tokio::test]
async fn merge_moves_balances_through_the_ledger_and_erasure_keeps_them() {
    let book = book().await;
    let boss = &book.boss;
    let csv = "姓名,手机,卡号,积分,储值余额,赠送余额\n\
               甲,13800000001,A-0001,100,50.5,5\n\
               乙,13800000002,A-0002,20,10,0\n";
    let report = book
        .members
        .import_csv(boss, csv.as_bytes(), false, NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(report.applied, "{report:?}");
    assert_eq!(report.created, 2);
    let find = |card: &str| book.members.find_by_card(boss, card).unwrap().unwrap().0;
    let (a, b) = (find("A-0001"), find("A-0002"));
    assert_eq!(a.balances.points, 100);
    assert_eq!(a.balances.principal_fen, 5050);
    assert_eq!(a.balances.bonus_fen, 500);

    // The same file again adds nothing.
    let rerun = book
        .members
        .import_csv(boss, csv.as_bytes(), false, NOW.plus_ms(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rerun.created, 0);
    assert_eq!(find("A-0001").balances.points, 100);

    let merged = book
        .members
        .merge(boss, a.member.id, b.member.id, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merged.balances.points, 120);
    assert_eq!(merged.balances.principal_fen, 6050);
    assert_eq!(merged.member.cards.len(), 2);
    let source = book.members.get(boss, b.member.id).unwrap().unwrap();
    assert!(
        matches!(source.member.status, MemberStatus::Merged { into, .. } if into == a.member.id)
    );
    assert_eq!(source.balances.points, 0);
    // Card A-0002 now finds the member kept.
    assert_eq!(find("A-0002").member.id, a.member.id);
    // Merging again is the answer already given.
    let again = book
        .members
        .merge(boss, a.member.id, b.member.id, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.balances.points, 120);

    // An idempotent answer showing the member is kept; erasure must not leave it to replay.
    let directory = book.members.directory();
    let answer = format!(r#"{{"id":"{}","name":"甲"}}"#, a.member.id);
    directory
        .keep_reply(
            &[7; 32],
            &[1; 32],
            answer.as_bytes(),
            NOW,
            NOW.plus_ms(86_400_000),
        )
        .await
        .unwrap();
    directory
        .keep_reply(
            &[8; 32],
            &[1; 32],
            b"{\"id\":\"someone else\"}",
            NOW,
            NOW.plus_ms(86_400_000),
        )
        .await
        .unwrap();
    let erased = book.members.erase(boss, a.member.id, NOW).unwrap().unwrap();
    assert_eq!(directory.reply(&[7; 32], NOW).unwrap(), None);
    assert!(directory.reply(&[8; 32], NOW).unwrap().is_some());
    assert_eq!(erased.member.profile.name, None);
    assert_eq!(erased.member.profile.phone, None);
    assert!(erased.member.cards.is_empty());
    assert_eq!(erased.balances.points, 120, "money history stays");
    assert!(book.members.find_by_card(boss, "A-0001").unwrap().is_err());
    // The merchant's opening-balance account gave exactly what members hold.
    let opening =
        tongka_domain::accounts::opening_account(boss.merchant, tongka_domain::accounts::CNY);
    let given = book.members.ledger().balance(opening.id).unwrap().unwrap();
    assert_eq!(given.debits_posted, 6050 + 500);
}

#[tokio::test]
async fn an_import_with_a_bad_row_writes_nothing_and_names_every_bad_row() {
    let book = book().await;
    let boss = &book.boss;
    let csv = "name,phone,birthday,points,home_store\n\
               好,13800000001,1990-01-01,10,\n\
               坏手机,12345,,,\n\
               坏生日,13800000003,1990-02-30,,\n\
               重复,13800000001,,,\n\
               坏积分,13800000005,,1.5,\n\
               无门店,13800000006,,,NOPE\n";
    let report = book
        .members
        .import_csv(boss, csv.as_bytes(), false, NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(!report.applied);
    let lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7]);
    assert!(matches!(&report.errors[0].error, RowProblem::Field(f) if f.field == "phone"));
    assert!(matches!(&report.errors[1].error, RowProblem::Field(f) if f.field == "birthday"));
    assert!(matches!(&report.errors[2].error, RowProblem::Taken(_)));
    assert!(matches!(&report.errors[3].error, RowProblem::Field(f) if f.field == "points"));
    assert!(matches!(
        &report.errors[4].error,
        RowProblem::UnknownStore(_)
    ));
    let page = book
        .members
        .search(
            boss,
            &MemberQuery {
                limit: 10,
                ..MemberQuery::default()
            },
        )
        .unwrap()
        .unwrap();
    assert!(page.members.is_empty(), "nothing written");

    let unknown_column = book
        .members
        .import_csv(boss, b"name,shoe_size\nx,42\n", true, NOW)
        .await
        .unwrap();
    assert!(unknown_column.is_err());
}

#[tokio::test]
async fn cashiers_cannot_merge_erase_or_touch_another_stores_member() {
    let book = book().await;
    let boss = &book.boss;
    let directory = book.members.directory();
    let store = |code: &str| NewStore {
        code: code.into(),
        name: code.into(),
        kind: StoreKind::Direct,
        opened_on: tongka_domain::Date::parse("2020-01-01").unwrap(),
        time_zone: "Asia/Shanghai".into(),
    };
    let a = directory
        .create_store(boss, &store("A"), NOW)
        .unwrap()
        .unwrap();
    let b = directory
        .create_store(boss, &store("B"), NOW)
        .unwrap()
        .unwrap();
    let cashier = directory
        .create_staff_by(
            boss,
            &NewStaff {
                department: None,
                username: "cashier-a".into(),
                display_name: "收银A".into(),
                role: Role::Cashier,
                scope: Scope::Stores(vec![a.id]),
                password: "long enough".into(),
            },
            NOW,
        )
        .unwrap()
        .unwrap();
    // A cashier's new member is homed at their store.
    let own = book
        .members
        .create(&cashier, &member("甲", "13800000001", None), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.member.home_store, Some(a.id));
    let mut elsewhere = member("乙", "13800000002", None);
    elsewhere.home_store = Some(b.id);
    let theirs = book
        .members
        .create(boss, &elsewhere, NOW)
        .await
        .unwrap()
        .unwrap();
    let cashier_creates_for_b = book
        .members
        .create(&cashier, &elsewhere, NOW)
        .await
        .unwrap();
    assert_eq!(
        cashier_creates_for_b.unwrap_err(),
        MemberError::UnknownStore
    );
    let frozen = book
        .members
        .set_frozen(&cashier, own.member.id, true)
        .unwrap();
    assert_eq!(frozen.unwrap_err(), MemberError::Forbidden);
    let merged = book
        .members
        .merge(&cashier, own.member.id, theirs.member.id, NOW)
        .await
        .unwrap();
    assert_eq!(merged.unwrap_err(), MemberError::Forbidden);
    assert_eq!(
        book.members
            .erase(&cashier, own.member.id, NOW)
            .unwrap()
            .unwrap_err(),
        MemberError::Forbidden
    );
    let lost = book
        .members
        .add_card(
            &cashier,
            theirs.member.id,
            &NewCard {
                number: "B-0001".into(),
                kind: "barcode".into(),
            },
            NOW,
        )
        .unwrap();
    assert_eq!(lost.unwrap_err(), MemberError::Forbidden);
    // The till still finds store B's member by phone: members are chain-wide.
    let found = book
        .members
        .search(
            &cashier,
            &MemberQuery {
                phone: Some("13800000002".into()),
                limit: 1,
                ..MemberQuery::default()
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(found.members[0].id, theirs.member.id);
    // But browsing shows only the cashier's store.
    let browse = book
        .members
        .search(
            &cashier,
            &MemberQuery {
                limit: 10,
                ..MemberQuery::default()
            },
        )
        .unwrap()
        .unwrap();
    let ids: Vec<MemberId> = browse.members.iter().map(|m| m.id).collect();
    assert_eq!(ids, [own.member.id]);
}

#[tokio::test]
async fn follow_ups_come_due_and_leave_when_done() {
    let book = book().await;
    let boss = &book.boss;
    let pet = book
        .members
        .create(boss, &member("阿黄", "13800000001", None), NOW)
        .await
        .unwrap()
        .unwrap();
    let record = book
        .members
        .add_service_record(boss, pet.member.id, "眼部护理", Some("2026-11-26"), NOW)
        .unwrap()
        .unwrap();
    let day = |d: &str| tongka_domain::Date::parse(d).unwrap();
    assert!(
        book.members
            .follow_ups_due(boss, day("2026-11-25"), 10)
            .unwrap()
            .is_empty()
    );
    let due = book
        .members
        .follow_ups_due(boss, day("2026-11-26"), 10)
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].0.note, "眼部护理");
    book.members
        .complete_follow_up(boss, pet.member.id, record.number, NOW)
        .unwrap()
        .unwrap();
    assert!(
        book.members
            .follow_ups_due(boss, day("2026-12-31"), 10)
            .unwrap()
            .is_empty()
    );
}
